// The Agent service (sandbox/proto/agent.proto) over husk's runtime library: the containers
// of one sandbox, their processes, and the agent-owned stdio of each process (pipes or a
// pty, drained into bounded buffers). It owns the bundles it writes and the shares it
// mounts; the containers' state is the runtime's (Runtime with the agent's state root).
// It knows nothing of connections: requests come in through handle() with a ReplyTo, and
// answers (now, or later for parked calls) go out through the Replier.
#pragma once

#include "runtime/container.hpp"
#include "common/loop.hpp"
#include "shim/ttrpc.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace husk::agent {

namespace ttrpc = husk::shim::ttrpc;

enum class Mode { Guest, Test };

struct Paths {
    std::string state_root; // the runtime's --root
    std::string bundles;    // one directory per container
    std::string shares;     // share tag T is shares/T (mounted by us in the guest)
};

// Where a reply goes: a connection (by serial, so a closed and reused descriptor never gets
// it) and the request's stream id.
struct ReplyTo {
    std::uint64_t conn = 0;
    std::uint32_t stream = 0;
};

class Replier {
public:
    virtual ~Replier() = default;
    virtual void reply(const ReplyTo& to, const ttrpc::Status& status, const std::string& payload) = 0;
};

class Service {
public:
    Service(Loop& loop, Replier& replier, Mode mode, Paths paths);
    ~Service();

    // Handles one request of the Agent service; answers it now or parks it.
    void handle(const ReplyTo& to, const std::string& method, const std::string& payload);
    // Reaps every exited child (SIGCHLD); the ones that are container processes are recorded.
    void reap();
    // Kills and deletes every container (Shutdown, and the end of the test mode).
    void destroy_all();
    bool shutdown_requested() const { return m_shutdown; }

    struct Proc;
    struct Container;
    struct Stream;
    struct Reply;
    struct Stdio;

private:
    std::optional<Reply> dispatch(const ReplyTo& to, const std::string& method, const std::string& payload);

    std::optional<Reply> ping(const std::string& payload);
    std::optional<Reply> create_container(const std::string& payload);
    std::optional<Reply> start_container(const std::string& payload);
    std::optional<Reply> exec_process(const std::string& payload);
    std::optional<Reply> signal_process(const std::string& payload);
    std::optional<Reply> wait_process(const ReplyTo& to, const std::string& payload);
    std::optional<Reply> state(const std::string& payload);
    std::optional<Reply> stats(const std::string& payload);
    std::optional<Reply> list_pids(const std::string& payload);
    std::optional<Reply> pause(const std::string& payload, bool pause);
    std::optional<Reply> read_stream(const ReplyTo& to, const std::string& payload);
    std::optional<Reply> write_stdin(const ReplyTo& to, const std::string& payload);
    std::optional<Reply> close_stdin(const std::string& payload);
    std::optional<Reply> resize_pty(const std::string& payload);
    std::optional<Reply> delete_container(const std::string& payload);
    std::optional<Reply> shutdown();

    Result<Container*> find_container(const std::string& id);
    Result<Proc*> find_proc(const std::string& id, const std::string& exec_id);

    // stdio
    void watch_stream(Stream& s);
    void on_readable(Stream& s);
    void serve_reader(Stream& s);
    void on_stdin_writable(Proc& p);
    void finish_stdin_write(Proc& p);
    void close_proc_io(Proc& p);
    void process_exited(Proc& p, int wait_status);
    void forget_container(Container& c);

    Result<std::string> mount_share(const std::string& tag, bool readonly);
    void release_share(const std::string& tag);
    // The stdio of a new process: pipes, or a console socket for a pty.
    Result<> prepare_stdio(Proc& p, bool want_stdin, bool terminal, Stdio& io);
    Result<> finish_stdio(Proc& p, Stdio& io);

    Loop& m_loop;
    Replier& m_replier;
    Mode m_mode;
    Paths m_paths;
    Runtime m_runtime;
    std::map<std::string, std::unique_ptr<Container>> m_containers;
    std::map<pid_t, Proc*> m_by_pid;
    std::map<std::string, int> m_share_refs; // guest: mounted tag -> containers using it
    unsigned m_console_serial = 0;
    bool m_shutdown = false;
    bool m_network_configured = false; // the guest took over a host network
};

} // namespace husk::agent
