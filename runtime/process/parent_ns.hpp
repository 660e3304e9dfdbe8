// Namespaces husk enters only for the clone of a container process and leaves right
// after: pid and time apply to children only ("for_children"), and a time namespace's
// offsets must be written before its first process enters.
#pragma once

#include "common/error.hpp"
#include "common/fd.hpp"
#include "runtime/spec/config.hpp"

#include <map>
#include <string>

namespace husk::process {

// The CLONE_NEW* flag of a namespace type.
int clone_flag(spec::NamespaceType t);

class ParentNamespaceSwitch {
public:
    ParentNamespaceSwitch() = default;
    ParentNamespaceSwitch(const ParentNamespaceSwitch&) = delete;
    ParentNamespaceSwitch& operator=(const ParentNamespaceSwitch&) = delete;
    ~ParentNamespaceSwitch();

    // The pid namespace at `path` for the next child.
    Result<> enter_pid(const std::string& path);
    // A new time namespace with `offsets`, or the one at ns.path.
    Result<> enter_time(const spec::Namespace& ns, const std::map<std::string, spec::TimeOffset>& offsets);
    // The pid and/or time namespaces of a running process (CLONE_NEWPID|CLONE_NEWTIME).
    Result<> enter_of_process(BorrowedFd pidfd, int flags);

    // Back to husk's own namespaces (also done on destruction).
    void restore();

private:
    Result<> save(int flags);
    Fd m_saved_pid;
    Fd m_saved_time;
};

} // namespace husk::process
