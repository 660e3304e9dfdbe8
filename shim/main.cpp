// containerd-shim-husk-v2: containerd's runtime v2 shim for husk (or any runtime with runc's
// command line). containerd runs it three ways:
//   ... start    (cwd: the bundle) start or find the pod's shim; print its socket address
//   ... delete   clean up after a container whose shim is gone
//   (no action)  the shim itself, started by `start`: serves the Task API on fd 3
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/sha256.hpp"
#include "common/unix_socket.hpp"
#include "common/loop.hpp"
#include "shim/options.hpp"
#include "shim/runtime.hpp"
#include "shim/server.hpp"
#include "shim/service.hpp"

#include "github.com/containerd/containerd/runtime/v2/task/shim.pb.h"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

using namespace husk;
using namespace husk::shim;

namespace {

constexpr const char* socket_dir = "/run/containerd/s";

int die(const std::string& msg)
{
    std::fprintf(stderr, "containerd-shim-husk-v2: %s\n", msg.c_str());
    return 1;
}

std::string bundle_dir(const ShimArgs& a)
{
    return a.bundle.empty() ? fs::current_dir() : a.bundle;
}

// The pod a container belongs to: CRI marks a pod's containers with its sandbox id, and they
// all share the sandbox's shim. Anything else gets a shim of its own.
std::string grouping_id(const ShimArgs& a, const std::string& bundle)
{
    auto text = fs::read_file(bundle + "/config.json");
    if (!text)
        return a.id;
    auto spec = nlohmann::json::parse(*text, nullptr, false);
    if (spec.is_discarded() || !spec.is_object())
        return a.id;
    auto ann = spec.find("annotations");
    if (ann == spec.end() || !ann->is_object())
        return a.id;
    for (const char* key : {"io.kubernetes.cri.sandbox-id", "io.kubernetes.cri-o.SandboxID"}) {
        auto it = ann->find(key);
        if (it != ann->end() && it->is_string() && !it->get<std::string>().empty())
            return it->get<std::string>();
    }
    return a.id;
}

Result<Fd> listen_unix(const std::string& path)
{
    Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s)
        return fail_errno("socket");
    sockaddr_un addr{};
    socklen_t len = TRY(unix_address(path, addr));
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), len) < 0)
        return fail_errno("bind " + path);
    ::chmod(path.c_str(), 0600);
    if (::listen(s.get(), 64) < 0)
        return fail_errno("listen " + path);
    return s;
}

bool socket_alive(const std::string& path)
{
    Fd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    auto len = unix_address(path, addr);
    return s && len && ::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), *len) == 0;
}

int cmd_start(const ShimArgs& a)
{
    // Runtime options on stdin (CRI's ConfigPath); read so the pipe drains, checked so that a
    // broken config fails here, visibly, rather than in every Create.
    std::string opts_bytes((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    auto opts = decode_runtime_options_any(opts_bytes);
    if (!opts)
        return die(opts.error().message());
    if (!opts->config_path.empty()) {
        if (auto c = load_config(opts->config_path, true); !c)
            return die(c.error().message());
    }
    const std::string bundle = bundle_dir(a);
    const std::string group = grouping_id(a, bundle);
    // One socket per (containerd, namespace, pod); the hash keeps the path short and fixed.
    const std::string path = std::string(socket_dir) + "/" + sha256_hex(a.address + "\n" + a.ns + "\n" + group);
    const std::string address = "unix://" + path;
    if (auto r = fs::mkdir_all(socket_dir, 0711); !r)
        return die(r.error().message());

    auto publish_address = [&]() -> int {
        if (auto r = fs::write_file(bundle + "/address", address, 0600); !r)
            return die(r.error().message());
        std::fputs(address.c_str(), stdout);
        return 0;
    };

    if (::access(path.c_str(), F_OK) == 0) {
        if (socket_alive(path))
            return publish_address(); // the pod's shim serves this container too
        ::unlink(path.c_str());       // left by a shim that died
    }
    auto sock = listen_unix(path);
    if (!sock)
        return die(sock.error().message());

    std::vector<std::string> args = {"containerd-shim-husk-v2", "-namespace", a.ns, "-id", a.id, "-address", a.address};
    if (!a.publish_binary.empty()) {
        args.push_back("-publish-binary");
        args.push_back(a.publish_binary);
    }
    if (a.debug)
        args.push_back("-debug");
    std::vector<char*> argv;
    for (auto& s : args)
        argv.push_back(s.data());
    argv.push_back(nullptr);

    pid_t pid = ::fork();
    if (pid < 0) {
        ::unlink(path.c_str());
        return die(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        // The shim outlives this command and containerd: a session of its own, the socket on
        // fd 3, stdio on /dev/null (it logs to the bundle's log FIFO).
        ::setsid();
        int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            ::dup2(null, 0);
            ::dup2(null, 1);
            ::dup2(null, 2);
        }
        // dup2 onto itself would keep close-on-exec: clear it by hand then.
        if (sock->get() == 3 ? ::fcntl(3, F_SETFD, 0) < 0 : ::dup2(sock->get(), 3) < 0)
            _exit(127);
        ::execv("/proc/self/exe", argv.data());
        _exit(127);
    }
    return publish_address();
}

// After a shim is gone (crashed, killed): the container's state in the runtime and the rootfs
// mount. Prints a DeleteResponse as containerd expects (the init counts as killed).
int cmd_delete(const ShimArgs& a)
{
    const std::string bundle = bundle_dir(a);
    RuntimeConfig rc;
    auto config = load_config(default_config_path(), false);
    if (config)
        rc = runtime_config(*config, {}, a.ns);
    if (auto saved = fs::read_file(bundle + "/husk-shim.json")) {
        auto j = nlohmann::json::parse(*saved, nullptr, false);
        if (j.is_object()) {
            rc.binary = j.value("runtime", rc.binary);
            rc.root = j.value("root", rc.root);
            rc.systemd_cgroup = j.value("systemd_cgroup", rc.systemd_cgroup);
        }
    }
    Runtime runtime(rc, bundle + "/log.json");
    if (auto r = runtime.call({"delete", "--force", a.id}); !r) {
        // Nothing left to delete is the usual case; say anything else.
        if (runtime.call({"state", a.id}))
            std::fprintf(stderr, "containerd-shim-husk-v2: %s\n", r.error().message().c_str());
    }
    const std::string rootfs = bundle + "/rootfs";
    if (::umount2(rootfs.c_str(), 0) < 0 && errno != EINVAL && errno != ENOENT)
        ::umount2(rootfs.c_str(), MNT_DETACH);

    containerd::task::v2::DeleteResponse resp;
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    resp.mutable_exited_at()->set_seconds(ts.tv_sec);
    resp.mutable_exited_at()->set_nanos(static_cast<std::int32_t>(ts.tv_nsec));
    resp.set_exit_status(128 + SIGKILL);
    // The init's pid, for the exit events containerd publishes on the dead shim's behalf.
    if (auto text = fs::read_file(bundle + "/init.pid")) {
        try {
            resp.set_pid(static_cast<std::uint32_t>(std::stoul(*text)));
        } catch (...) {
        }
    }
    const std::string out = resp.SerializeAsString();
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}

int cmd_serve(const ShimArgs& a)
{
    // Logs go to the FIFO containerd made in the bundle, when it is there.
    Fd logfifo(::open("log", O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (logfifo) {
        int fl = ::fcntl(logfifo.get(), F_GETFL);
        ::fcntl(logfifo.get(), F_SETFL, fl & ~O_NONBLOCK);
        ::dup2(logfifo.get(), 2);
    }
    log::set_format(log::Format::Json);
    auto config = load_config(default_config_path(), false);
    if (!config)
        return die(config.error().message());
    log::set_debug(a.debug || config->debug);

    // Every process of the pod is reparented here when its runtime parent exits.
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        return die(std::string("PR_SET_CHILD_SUBREAPER: ") + std::strerror(errno));
    ::signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    Fd sigfd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!sigfd)
        return die(std::string("signalfd: ") + std::strerror(errno));

    Fd listener(3);
    ::fcntl(3, F_SETFD, FD_CLOEXEC);
    int fl = ::fcntl(3, F_GETFL);
    ::fcntl(3, F_SETFL, fl | O_NONBLOCK);
    sockaddr_un own{};
    socklen_t own_len = sizeof own;
    std::string own_path;
    if (::getsockname(3, reinterpret_cast<sockaddr*>(&own), &own_len) == 0 && own.sun_path[0])
        own_path = own.sun_path;

    auto loop = Loop::create();
    if (!loop)
        return die(loop.error().message());
    const char* ttrpc_address = std::getenv("TTRPC_ADDRESS");
    EventForwarder events(ttrpc_address ? ttrpc_address : "", a.ns);
    TaskService service(*loop, events, *config, a.ns);
    Server server(*loop, std::move(listener), service, events);
    if (auto r = server.start(); !r)
        return die(r.error().message());
    if (auto r = loop->add(sigfd.get(), EPOLLIN, [&](std::uint32_t) {
            signalfd_siginfo si;
            while (::read(sigfd.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
            }
            int status;
            pid_t pid;
            while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0)
                service.on_exit(pid, status);
        });
        !r)
        return die(r.error().message());

    while (!service.should_exit()) {
        if (auto r = loop->run_once(-1); !r)
            return die(r.error().message());
        events.flush();
    }
    events.flush();
    if (!own_path.empty())
        ::unlink(own_path.c_str());
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    auto args = parse_args(argc, argv);
    if (!args)
        return die(args.error().message());
    if (args->version) {
        std::printf("containerd-shim-husk-v2 version 0.1.0\n");
        return 0;
    }
    if (args->action == "start")
        return cmd_start(*args);
    if (args->action == "delete")
        return cmd_delete(*args);
    if (args->ns.empty())
        return die("-namespace is required");
    return cmd_serve(*args);
}
