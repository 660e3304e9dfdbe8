// Loading the device program (device_filter.cpp builds it) and attaching it to a cgroup v2
// directory with libbpf's thin syscall wrappers.
//
// Programs are attached with BPF_F_ALLOW_MULTI, so that a program attached by someone above
// us keeps working too (the kernel asks every program on the path and denies if any does).
// On update the old program is replaced in one step (BPF_F_REPLACE) when there is exactly
// one; with more than one, the new program goes on before the old ones come off, so the
// rules never lapse.
#include "cgroups/device_filter.hpp"

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"

#include <bpf/bpf.h>
#include <cerrno>
#include <fcntl.h>

namespace husk::cgroups {

namespace {

Result<Fd> load(const std::vector<bpf_insn>& code)
{
    std::string log(64 * 1024, '\0');
    bpf_prog_load_opts opts {};
    opts.sz = sizeof(opts);
    opts.log_buf = log.data();
    opts.log_size = static_cast<__u32>(log.size());
    opts.log_level = 1;
    int fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, "husk_devices", "Apache-2.0", code.data(), code.size(), &opts);
    if (fd < 0) {
        int err = -fd;
        std::string what = "load the device filter (" + std::to_string(code.size()) + " instructions)";
        if (err == EPERM)
            what += ": loading eBPF programs needs CAP_SYS_ADMIN or CAP_BPF";
        log.resize(log.find('\0'));
        if (!log.empty())
            log::debug("bpf verifier: " + log);
        return fail_errno(err, what);
    }
    return Fd(fd);
}

// The ids of the device programs attached to the cgroup itself.
Result<std::vector<__u32>> attached(int cgroup_fd)
{
    std::vector<__u32> ids(64);
    for (;;) {
        __u32 count = static_cast<__u32>(ids.size());
        __u32 flags = 0;
        int r = bpf_prog_query(cgroup_fd, BPF_CGROUP_DEVICE, 0, &flags, ids.data(), &count);
        if (r == 0) {
            ids.resize(count);
            return ids;
        }
        if (-r == ENOSPC && ids.size() < 4096) {
            ids.resize(ids.size() * 4);
            continue;
        }
        return fail_errno(-r, "query the device programs of the cgroup");
    }
}

} // namespace

Result<> attach_device_program(const std::string& dir, const std::vector<DeviceRule>& rules)
{
    auto code = TRY(device_program(rules));
    Fd prog = TRY(load(code));
    Fd cgroup = TRY_CTX(fs::open(dir, O_RDONLY | O_DIRECTORY), "open cgroup for the device filter");
    std::vector<Fd> old;
    for (__u32 id : TRY(attached(cgroup.get()))) {
        int fd = bpf_prog_get_fd_by_id(id);
        if (fd < 0) {
            if (-fd == ENOENT) // detached meanwhile
                continue;
            return fail_errno(-fd, "open attached device program " + std::to_string(id));
        }
        old.emplace_back(fd);
    }
    struct bpf_prog_attach_opts opts {};
    opts.sz = sizeof(opts);
    opts.flags = BPF_F_ALLOW_MULTI;
    if (old.size() == 1) {
        opts.flags |= BPF_F_REPLACE;
        opts.replace_prog_fd = old.front().get();
    }
    if (int r = bpf_prog_attach_opts(prog.get(), cgroup.get(), BPF_CGROUP_DEVICE, &opts); r < 0)
        return fail_errno(-r, "attach the device filter to " + dir);
    if (old.size() > 1) {
        for (const auto& fd : old)
            if (int r = bpf_prog_detach2(fd.get(), cgroup.get(), BPF_CGROUP_DEVICE); r < 0 && -r != ENOENT)
                return fail_errno(-r, "detach the previous device filter from " + dir);
    }
    log::debug("device filter: " + std::to_string(code.size()) + " instructions for " + std::to_string(rules.size()) +
               " rules on " + dir);
    return {};
}

} // namespace husk::cgroups
