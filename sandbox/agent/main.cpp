// husk-agent: runs the containers of a micro-VM sandbox on the host's behalf.
//
//   as PID 1 of the guest (its /init): sets the guest up, then serves the Agent API on the
//     virtio-serial port "agent" until Shutdown powers the guest off;
//   husk-agent --listen SOCK --root STATEDIR --shares-dir DIR: the same API on a unix socket
//     of the host, as a child subreaper, share tag T being the directory DIR/T (tests).
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "runtime/process/sealed_exe.hpp"
#include "sandbox/agent/guest.hpp"
#include "common/loop.hpp"
#include "sandbox/agent/server.hpp"
#include "sandbox/agent/service.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/epoll.h>
#include <unistd.h>

using namespace husk;
using namespace husk::agent;

namespace {

struct Options {
    std::string listen;
    std::string root;
    std::string shares_dir;
};

int usage()
{
    std::fprintf(stderr, "usage: husk-agent --listen SOCKET --root STATEDIR --shares-dir DIR\n"
                         "       (as PID 1 of a sandbox guest, no arguments)\n");
    return 2;
}

// The runtime's log goes to its own descriptor of what stderr is now: while a container is
// created, fds 0-2 are the container's stdio, and a warning must not land in its output.
void detach_log()
{
    std::string path = "/proc/self/fd/2";
    (void)log::set_file(path);
}

// Blocks SIGCHLD (and, in the test mode, SIGTERM/SIGINT) into a signalfd. The runtime's
// container processes start with every signal unblocked whatever the agent blocks.
Result<Fd> signal_fd(bool with_term)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    if (with_term) {
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
    }
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) < 0)
        return fail_errno("sigprocmask");
    int fd = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0)
        return fail_errno("signalfd");
    return Fd(fd);
}

// The loop both modes share. Returns when Shutdown was answered (or a terminating signal
// came, in the test mode), with every container deleted.
Result<> serve(Loop& loop, Service& service, BorrowedFd sigfd, bool& terminate)
{
    TRY(loop.add(sigfd.get(), EPOLLIN, [&](std::uint32_t) {
        signalfd_siginfo si;
        while (::read(sigfd.get(), &si, sizeof si) == ssize_t(sizeof si)) {
            if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                terminate = true;
        }
        service.reap();
    }));
    while (!service.shutdown_requested() && !terminate) {
        if (auto r = loop.run_once(-1); !r)
            return r;
    }
    service.destroy_all();
    return {};
}

int test_main(const Options& o)
{
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        std::perror("husk-agent: PR_SET_CHILD_SUBREAPER");
        return 1;
    }
    Paths paths { fs::absolute(o.root, fs::current_dir()) + "/state", fs::absolute(o.root, fs::current_dir()) + "/bundles",
                  fs::absolute(o.shares_dir, fs::current_dir()) };
    for (const auto& d : { paths.state_root, paths.bundles }) {
        if (auto r = fs::mkdir_all(d, 0700); !r) {
            std::fprintf(stderr, "husk-agent: %s\n", r.error().message().c_str());
            return 1;
        }
    }
    auto loop = Loop::create();
    auto sigfd = signal_fd(true);
    if (!loop || !sigfd) {
        std::fprintf(stderr, "husk-agent: %s\n", (!loop ? loop.error() : sigfd.error()).message().c_str());
        return 1;
    }
    Server server(*loop);
    Service service(*loop, server, Mode::Test, paths);
    server.set_service(&service);
    if (auto r = server.listen(o.listen); !r) {
        std::fprintf(stderr, "husk-agent: %s\n", r.error().message().c_str());
        return 1;
    }
    bool terminate = false;
    auto r = serve(*loop, service, sigfd->borrow(), terminate);
    ::unlink(o.listen.c_str());
    if (!r) {
        std::fprintf(stderr, "husk-agent: %s\n", r.error().message().c_str());
        return 1;
    }
    return 0;
}

// Keeps the port open and served: when the host side hangs up, the port is closed and
// opened again a moment later (the host may reconnect).
void attach_port(Loop& loop, Server& server)
{
    auto port = guest::open_agent_port(0);
    if (!port) {
        loop.after(200, [&loop, &server] { attach_port(loop, server); });
        return;
    }
    auto r = server.add_connection(std::move(*port), [&loop, &server] {
        loop.after(200, [&loop, &server] { attach_port(loop, server); });
    });
    if (!r)
        loop.after(200, [&loop, &server] { attach_port(loop, server); });
}

[[noreturn]] void guest_main(char** argv)
{
    // After the sealed re-exec below the mounts and modules are there already: loading the
    // modules again would only be refused (EEXIST) after the kernel read and checked them.
    if (!std::getenv("HUSK_AGENT_BOUND_ROOT")) {
        guest::milestone("started");
        guest::early_setup();
        guest::milestone("mounts and modules done");
    }
    // The initramfs is writable: the containers' processes start as clones of a sealed copy
    // of the agent, as on the host (CVE-2019-5736). The re-exec keeps PID 1; the mounts above
    // are then already there.
    if (auto r = process::ensure_sealed_exe(argv); !r)
        guest::console("HUSK-AGENT: " + r.error().message());
    detach_log();
    if (guest::probe_requested()) {
        guest::console("HUSK-AGENT: probe ok");
        guest::power_off();
    }
    Paths paths { "/run/husk/state", "/run/husk/bundles", "/run/husk/shares" };
    for (const auto& d : { paths.state_root, paths.bundles, paths.shares })
        (void)fs::mkdir_all(d, 0700);
    auto loop = Loop::create();
    auto sigfd = signal_fd(false);
    if (!loop || !sigfd) {
        guest::console("HUSK-AGENT: " + (!loop ? loop.error() : sigfd.error()).message());
        guest::power_off();
    }
    auto port = guest::open_agent_port(30'000);
    if (!port) {
        guest::console("HUSK-AGENT: " + port.error().message());
        guest::power_off();
    }
    Server server(*loop);
    Service service(*loop, server, Mode::Guest, paths);
    server.set_service(&service);
    auto reopen = [&loop, &server] { loop->after(200, [&loop, &server] { attach_port(*loop, server); }); };
    if (auto r = server.add_connection(std::move(*port), reopen); !r) {
        guest::console("HUSK-AGENT: " + r.error().message());
        guest::power_off();
    }
    guest::milestone("ready");
    bool terminate = false;
    if (auto r = serve(*loop, service, sigfd->borrow(), terminate); !r)
        guest::console("HUSK-AGENT: " + r.error().message());
    guest::power_off();
}

} // namespace

int main(int argc, char** argv)
{
    ::signal(SIGPIPE, SIG_IGN);
    if (::getpid() == 1)
        guest_main(argv);
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](std::string& out) {
            if (i + 1 >= argc)
                return false;
            out = argv[++i];
            return true;
        };
        if ((a == "--listen" && value(o.listen)) || (a == "--root" && value(o.root))
            || (a == "--shares-dir" && value(o.shares_dir)))
            continue;
        return usage();
    }
    if (o.listen.empty() || o.root.empty() || o.shares_dir.empty())
        return usage();
    // Container processes start as clones of the agent: run from a copy of the binary that
    // nothing in a container can write to (CVE-2019-5736), as husk's create and exec do.
    if (auto r = process::ensure_sealed_exe(argv); !r) {
        std::fprintf(stderr, "husk-agent: %s\n", r.error().message().c_str());
        return 1;
    }
    record_inherited_fds();
    detach_log();
    return test_main(o);
}
