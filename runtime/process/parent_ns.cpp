#include "runtime/process/parent_ns.hpp"

#include "common/fs.hpp"

#include <fcntl.h>
#include <sched.h>

namespace husk::process {

int clone_flag(spec::NamespaceType t)
{
    using spec::NamespaceType;
    switch (t) {
    case NamespaceType::Pid: return CLONE_NEWPID;
    case NamespaceType::Network: return CLONE_NEWNET;
    case NamespaceType::Mount: return CLONE_NEWNS;
    case NamespaceType::Ipc: return CLONE_NEWIPC;
    case NamespaceType::Uts: return CLONE_NEWUTS;
    case NamespaceType::User: return CLONE_NEWUSER;
    case NamespaceType::Cgroup: return CLONE_NEWCGROUP;
    case NamespaceType::Time: return CLONE_NEWTIME;
    }
    return 0;
}

Result<> ParentNamespaceSwitch::save(int flags)
{
    if ((flags & CLONE_NEWPID) && !m_saved_pid)
        m_saved_pid = TRY(fs::open("/proc/self/ns/pid", O_RDONLY));
    if ((flags & CLONE_NEWTIME) && !m_saved_time)
        m_saved_time = TRY(fs::open("/proc/self/ns/time", O_RDONLY));
    return {};
}

Result<> ParentNamespaceSwitch::enter_pid(const std::string& path)
{
    TRY(save(CLONE_NEWPID));
    Fd target = TRY(fs::open(path, O_RDONLY));
    if (::setns(target.get(), CLONE_NEWPID) < 0)
        return fail_errno("join pid namespace " + path);
    return {};
}

Result<> ParentNamespaceSwitch::enter_time(const spec::Namespace& ns,
                                           const std::map<std::string, spec::TimeOffset>& offsets)
{
    TRY(save(CLONE_NEWTIME));
    if (!ns.path.empty()) {
        Fd target = TRY(fs::open(ns.path, O_RDONLY));
        if (::setns(target.get(), CLONE_NEWTIME) < 0)
            return fail_errno("join time namespace " + ns.path);
        return {};
    }
    if (::unshare(CLONE_NEWTIME) < 0)
        return fail_errno("create time namespace");
    std::string text;
    for (const auto& [clock, off] : offsets)
        text += clock + " " + std::to_string(off.secs) + " " + std::to_string(off.nanosecs) + "\n";
    if (!text.empty())
        TRY_CTX(fs::write_file("/proc/self/timens_offsets", text), "set time namespace offsets");
    return {};
}

Result<> ParentNamespaceSwitch::enter_of_process(BorrowedFd pidfd, int flags)
{
    if (!flags)
        return {};
    TRY(save(flags));
    if (::setns(pidfd.get(), flags) < 0)
        return fail_errno("join the container's pid/time namespaces");
    return {};
}

void ParentNamespaceSwitch::restore()
{
    if (m_saved_pid)
        (void)::setns(m_saved_pid.get(), CLONE_NEWPID);
    if (m_saved_time)
        (void)::setns(m_saved_time.get(), CLONE_NEWTIME);
    m_saved_pid.reset();
    m_saved_time.reset();
}

ParentNamespaceSwitch::~ParentNamespaceSwitch() { restore(); }

} // namespace husk::process
