// For the seccomp unit tests: running a compiled filter in a forked child, so the test
// process itself stays unfiltered.
#pragma once

#include "runtime/seccomp/seccomp.hpp"

#include <doctest.h>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace husk::test {

// Runs `body` in a forked child with no_new_privs set and `program` loaded; returns the
// child's wait status. `body` gets the notify listener fd (or -1) and returns the child's
// exit code. The child only makes system calls: no allocation, no doctest.
template <typename Body>
int run_filtered(const seccomp::Program& program, Body body)
{
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            ::_exit(200);
        auto loaded = seccomp::load(program);
        if (!loaded)
            ::_exit(201);
        ::_exit(body(*loaded));
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    return status;
}

} // namespace husk::test
