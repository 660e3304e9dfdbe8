// CVE-2019-5736: every husk process that enters a container (the init and exec'd processes
// before their execve) runs husk's own binary, and a program in the container can reach that
// binary through /proc/PID/exe, or by exec'ing /proc/self/exe at the moment husk execs it.
// A host binary reached that way could be reopened for writing once husk exits. So the verbs
// that put processes into containers first re-exec husk from a copy nothing can write:
//
//   1. a detached, read-only overlay mount of the binary's directory with no upper layer
//      (no mount flag or remount can make it writable), when husk may mount;
//   2. otherwise a memfd copy of the binary, sealed against writes, growing and shrinking.
//
// A binary already on a read-only mount, or already a sealed memfd, needs neither.
#pragma once

#include "common/error.hpp"

namespace husk::process {

// Returns when the running binary is already safe; otherwise re-execs husk with the same
// argv and environment from a safe copy (and does not return), or fails when neither copy
// can be made. The environment variable HUSK_SEALED_EXE marks the re-exec'd process, so a
// failed check can never loop.
Result<> ensure_sealed_exe(char** argv);

// How the running binary is protected, for `--debug` logs and tests: "overlay", "memfd",
// "read-only mount", or "none".
const char* sealed_exe_kind();

} // namespace husk::process
