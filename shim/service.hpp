// containerd.task.v2.Task: the containers of one pod (one shim), driven through the
// runtime's command line. Transport-free: the server hands it a method name and the request
// bytes, and a Reply to call exactly once, now or later (Wait answers when the process exits).
// Events go to an EventSink; exits come in through on_exit() from the server's reaper.
#pragma once

#include "common/loop.hpp"
#include "shim/options.hpp"
#include "shim/ttrpc.hpp"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <sys/types.h>

namespace husk::shim {

class EventSink {
public:
    virtual ~EventSink() = default;
    // topic "/tasks/exit", type "containerd.events.TaskExit", the serialized event.
    virtual void publish(std::string topic, std::string type, std::string event) = 0;
};

// Sends one response: a status (code 0: OK) and, when OK, the serialized response message.
using Reply = std::function<void(const ttrpc::Status& status, const std::string& payload)>;

struct Container;
struct Proc;

class TaskService {
public:
    TaskService(Loop& loop, EventSink& events, ShimConfig config, std::string ns);
    ~TaskService();

    // One call of containerd.task.v2.Task/<method>.
    void handle(const std::string& method, const std::string& payload, Reply reply);
    // A child the shim reaped: exit status as waitpid gave it.
    void on_exit(pid_t pid, int wait_status);

    bool empty() const { return m_containers.empty(); }
    // Shutdown was called and nothing is left to serve: the server may exit.
    bool should_exit() const { return m_shutdown; }

private:
    struct Outcome;
    Outcome create(const std::string& payload);
    Outcome start(const std::string& payload);
    Outcome remove(const std::string& payload);
    Outcome exec(const std::string& payload);
    Outcome kill(const std::string& payload);
    Outcome state(const std::string& payload);
    Outcome pids(const std::string& payload);
    Outcome pause(const std::string& payload, bool pause);
    Outcome resize_pty(const std::string& payload);
    Outcome close_io(const std::string& payload);
    Outcome update(const std::string& payload);
    Outcome wait(const std::string& payload, Reply& reply);
    Outcome stats(const std::string& payload);
    Outcome connect(const std::string& payload);
    Outcome shutdown(const std::string& payload);

    Container* find(const std::string& id);
    void process_exited(Container& c, Proc& p, int status);
    void report_exit(Container& c, Proc& p);
    void watch_oom(Container& c);
    void destroy(Container& c);

    Loop& m_loop;
    EventSink& m_events;
    ShimConfig m_config;
    std::string m_ns;
    std::map<std::string, std::unique_ptr<Container>> m_containers;
    bool m_shutdown = false;
};

// A mount of CreateTaskRequest.rootfs as mount(2) takes it: the option strings split into
// flags and the data string.
struct MountPlan {
    unsigned long flags = 0;
    unsigned long propagation = 0;
    std::string data;
};
MountPlan plan_mount(const std::vector<std::string>& options);

} // namespace husk::shim
