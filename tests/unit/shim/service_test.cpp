// TaskService driven through its method names and serialized requests, as the server does,
// against a stand-in runtime (a shell script that logs its verbs and, for create and exec,
// starts a `sleep` and writes its pid). Exits are fed in through on_exit, as the reaper does.
#include "common/loop.hpp"
#include "shim/service.hpp"

#include "github.com/containerd/containerd/api/events/task.pb.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb.h"

#include <doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace husk::shim;
using husk::Loop;
namespace task = containerd::task::v2;
namespace events = containerd::events;

namespace {

struct Event {
    std::string topic, type, bytes;
};

class Events : public EventSink {
public:
    void publish(std::string topic, std::string type, std::string event) override
    {
        list.push_back({std::move(topic), std::move(type), std::move(event)});
    }
    std::vector<std::string> topics() const
    {
        std::vector<std::string> t;
        for (const auto& e : list)
            t.push_back(e.topic);
        return t;
    }
    std::vector<Event> list;
};

struct Answer {
    bool replied = false;
    ttrpc::Status status;
    std::string payload;
    int code() const { return status.code; }
};

std::string slurp(const std::string& path)
{
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

class Fixture {
public:
    Fixture() : loop(*Loop::create())
    {
        char tmpl[] = "/tmp/husk-shim-service.XXXXXX";
        REQUIRE(::mkdtemp(tmpl));
        dir = tmpl;
        ::mkdir((dir + "/bundle").c_str(), 0700);
        runtime = dir + "/runtime";
        std::ofstream(runtime) << "#!/bin/sh\n"
                                  "verb= pidfile=\n"
                                  "while [ $# -gt 0 ]; do\n"
                                  "  case $1 in\n"
                                  "  --root|--log|--log-format|--bundle|--process|--console-socket|--resources|--format) shift 2; continue;;\n"
                                  "  --pid-file) pidfile=$2; shift 2; continue;;\n"
                                  "  -*) shift; continue;;\n"
                                  "  esac\n"
                                  "  [ -z \"$verb\" ] && verb=$1\n"
                                  "  shift\n"
                                  "done\n"
                                  "echo \"$verb\" >>" + dir + "/calls\n"
                                  "case $verb in\n"
                                  "create|exec) sleep 100 </dev/null >/dev/null 2>&1 & echo $! >\"$pidfile\"; echo $! >>" + dir + "/pids;;\n"
                                  "ps) echo '[1, 2]';;\n"
                                  "pause) [ -e " + dir + "/fail-pause ] && { echo 'cannot pause' >&2; exit 1; };;\n"
                                  "esac\n"
                                  "exit 0\n";
        ::chmod(runtime.c_str(), 0755);
        ShimConfig config;
        config.runtime = runtime;
        config.root = dir + "/root";
        service.emplace(loop, events, config, "test");
    }
    ~Fixture()
    {
        service.reset();
        std::istringstream pids(slurp(dir + "/pids"));
        for (pid_t pid; pids >> pid;)
            ::kill(pid, SIGKILL);
        std::system(("rm -rf '" + dir + "'").c_str());
    }

    Answer* call(const std::string& method, const google::protobuf::Message& req)
    {
        answers.push_back(std::make_unique<Answer>());
        Answer* a = answers.back().get();
        service->handle(method, req.SerializeAsString(), [a](const ttrpc::Status& st, const std::string& p) {
            CHECK_FALSE(a->replied); // exactly once
            a->replied = true;
            a->status = st;
            a->payload = p;
        });
        return a;
    }
    Answer* raw(const std::string& method, const std::string& bytes)
    {
        answers.push_back(std::make_unique<Answer>());
        Answer* a = answers.back().get();
        service->handle(method, bytes, [a](const ttrpc::Status& st, const std::string& p) {
            a->replied = true;
            a->status = st;
            a->payload = p;
        });
        return a;
    }
    std::string bundle() const { return dir + "/bundle"; }
    std::string calls() const { return slurp(dir + "/calls"); }

    pid_t create(const std::string& id)
    {
        task::CreateTaskRequest req;
        req.set_id(id);
        req.set_bundle(bundle());
        Answer* a = call("Create", req);
        REQUIRE(a->replied);
        REQUIRE_MESSAGE(a->code() == 0, a->status.message);
        task::CreateTaskResponse resp;
        REQUIRE(resp.ParseFromString(a->payload));
        return static_cast<pid_t>(resp.pid());
    }
    int state_status(const std::string& id, const std::string& exec_id = "")
    {
        task::StateRequest req;
        req.set_id(id);
        req.set_exec_id(exec_id);
        Answer* a = call("State", req);
        if (a->code() != 0)
            return -a->code();
        task::StateResponse resp;
        REQUIRE(resp.ParseFromString(a->payload));
        return resp.status();
    }

    Loop loop;
    Events events;
    std::string dir, runtime;
    std::optional<TaskService> service;
    std::vector<std::unique_ptr<Answer>> answers;
};

constexpr int not_found = 5, already_exists = 6, failed_precondition = 9, unimplemented = 12, invalid_argument = 3;
constexpr int created = 1, running = 2, stopped = 3, paused = 4;

int killed_by(int sig) { return sig; } // wait status of a process killed by `sig`

} // namespace

TEST_CASE("task service: a container's life, its calls to the runtime and its events")
{
    Fixture f;
    const pid_t pid = f.create("c1");
    CHECK(pid > 0);
    CHECK(f.state_status("c1") == created);

    task::CreateTaskRequest again;
    again.set_id("c1");
    again.set_bundle(f.bundle());
    CHECK(f.call("Create", again)->code() == already_exists);

    task::ExecProcessRequest ex;
    ex.set_id("c1");
    ex.set_exec_id("e1");
    CHECK(f.call("Exec", ex)->code() == failed_precondition); // not started

    task::StartRequest start;
    start.set_id("c1");
    CHECK(f.call("Start", start)->code() == 0);
    CHECK(f.call("Start", start)->code() == failed_precondition); // twice
    CHECK(f.state_status("c1") == running);

    task::WaitRequest wait;
    wait.set_id("c1");
    Answer* waiting = f.call("Wait", wait);
    CHECK_FALSE(waiting->replied); // until the exit

    task::PauseRequest pause;
    pause.set_id("c1");
    CHECK(f.call("Pause", pause)->code() == 0);
    CHECK(f.state_status("c1") == paused);
    CHECK(f.call("Exec", ex)->code() == failed_precondition); // frozen
    task::ResumeRequest resume;
    resume.set_id("c1");
    CHECK(f.call("Resume", resume)->code() == 0);
    CHECK(f.call("Resume", resume)->code() == failed_precondition);

    task::PidsRequest pids;
    pids.set_id("c1");
    Answer* p = f.call("Pids", pids);
    REQUIRE(p->code() == 0);
    task::PidsResponse pr;
    REQUIRE(pr.ParseFromString(p->payload));
    REQUIRE(pr.processes_size() == 2);
    CHECK(pr.processes(1).pid() == 2);

    task::KillRequest kill;
    kill.set_id("c1");
    kill.set_signal(SIGKILL);
    kill.set_all(true);
    CHECK(f.call("Kill", kill)->code() == 0);
    task::DeleteRequest del;
    del.set_id("c1");
    CHECK(f.call("Delete", del)->code() == failed_precondition); // still running

    f.service->on_exit(pid, killed_by(SIGKILL));
    REQUIRE(waiting->replied);
    task::WaitResponse wr;
    REQUIRE(wr.ParseFromString(waiting->payload));
    CHECK(wr.exit_status() == 137);
    CHECK(wr.exited_at().seconds() > 0);
    CHECK(f.state_status("c1") == stopped);
    kill.set_all(false);
    CHECK(f.call("Kill", kill)->code() == not_found); // already finished

    Answer* d = f.call("Delete", del);
    REQUIRE(d->code() == 0);
    task::DeleteResponse dr;
    REQUIRE(dr.ParseFromString(d->payload));
    CHECK(dr.exit_status() == 137);
    CHECK(dr.pid() == static_cast<std::uint32_t>(pid));
    CHECK(f.state_status("c1") == -not_found);
    CHECK(f.calls() == "create\nstart\npause\nresume\nps\nkill\ndelete\n");
    CHECK(f.events.topics() == std::vector<std::string>{"/tasks/create", "/tasks/start", "/tasks/paused",
                                                        "/tasks/resumed", "/tasks/exit", "/tasks/delete"});
    events::TaskExit exit;
    REQUIRE(exit.ParseFromString(f.events.list[4].bytes));
    CHECK(f.events.list[4].type == "containerd.events.TaskExit");
    CHECK(exit.container_id() == "c1");
    CHECK(exit.id() == "c1");
    CHECK(exit.exit_status() == 137);

    CHECK_FALSE(f.service->should_exit());
    task::ShutdownRequest shut;
    CHECK(f.call("Shutdown", shut)->code() == 0);
    CHECK(f.service->should_exit()); // nothing left to serve
}

TEST_CASE("task service: exec'd processes, and the init's exit reported after theirs")
{
    Fixture f;
    const pid_t init = f.create("c2");
    task::StartRequest start;
    start.set_id("c2");
    REQUIRE(f.call("Start", start)->code() == 0);

    task::ExecProcessRequest ex;
    ex.set_id("c2");
    ex.set_exec_id("e1");
    ex.mutable_spec()->set_type_url("types.containerd.io/opencontainers/runtime-spec/1/Process");
    ex.mutable_spec()->set_value(R"({"args":["true"],"cwd":"/"})");
    REQUIRE(f.call("Exec", ex)->code() == 0);
    CHECK(f.call("Exec", ex)->code() == already_exists);
    CHECK(f.state_status("c2", "e1") == created);
    task::StartRequest start_e1;
    start_e1.set_id("c2");
    start_e1.set_exec_id("e1");
    Answer* s = f.call("Start", start_e1);
    REQUIRE_MESSAGE(s->code() == 0, s->status.message);
    task::StartResponse sr;
    REQUIRE(sr.ParseFromString(s->payload));
    const pid_t e1 = static_cast<pid_t>(sr.pid());
    CHECK(e1 != init);
    CHECK(f.state_status("c2", "e1") == running);

    // An exec that was added but never started has no process: a kill must not signal pid 0
    // (the shim's own process group) but say so.
    task::ExecProcessRequest idle;
    idle.set_id("c2");
    idle.set_exec_id("idle");
    REQUIRE(f.call("Exec", idle)->code() == 0);
    task::KillRequest kill_idle;
    kill_idle.set_id("c2");
    kill_idle.set_exec_id("idle");
    kill_idle.set_signal(SIGKILL);
    kill_idle.set_all(true);
    CHECK(f.call("Kill", kill_idle)->code() == failed_precondition);
    task::WaitRequest wait_idle;
    wait_idle.set_id("c2");
    wait_idle.set_exec_id("idle");
    Answer* idle_wait = f.call("Wait", wait_idle);
    CHECK_FALSE(idle_wait->replied);
    task::DeleteRequest del_idle;
    del_idle.set_id("c2");
    del_idle.set_exec_id("idle");
    CHECK(f.call("Delete", del_idle)->code() == 0);
    CHECK(idle_wait->replied); // a parked Wait is answered, not dropped

    task::WaitRequest wait_init;
    wait_init.set_id("c2");
    Answer* waiting = f.call("Wait", wait_init);

    // The init dies while e1 runs: e1 is killed, and the init's exit waits for e1's.
    f.service->on_exit(init, 0);
    CHECK_FALSE(waiting->replied);
    CHECK(f.events.topics().back() == "/tasks/exec-added");
    task::DeleteRequest del_early;
    del_early.set_id("c2");
    CHECK(f.call("Delete", del_early)->code() == failed_precondition); // exit not reported yet
    f.service->on_exit(e1, killed_by(SIGKILL));
    REQUIRE(waiting->replied);
    auto topics = f.events.topics();
    REQUIRE(topics.size() >= 2);
    CHECK(topics[topics.size() - 2] == "/tasks/exit");
    CHECK(topics.back() == "/tasks/exit");
    events::TaskExit first, second;
    REQUIRE(first.ParseFromString(f.events.list[f.events.list.size() - 2].bytes));
    REQUIRE(second.ParseFromString(f.events.list.back().bytes));
    CHECK(first.id() == "e1");
    CHECK(first.exit_status() == 137);
    CHECK(second.id() == "c2");
    CHECK(second.exit_status() == 0);

    task::DeleteRequest del_e1;
    del_e1.set_id("c2");
    del_e1.set_exec_id("e1");
    Answer* d = f.call("Delete", del_e1);
    REQUIRE(d->code() == 0);
    CHECK(f.state_status("c2", "e1") == -not_found);
    CHECK(f.calls() == "create\nstart\nexec\n");

    // --all on a stopped init still reaches the runtime (leftovers without a pid namespace).
    task::KillRequest kill_all;
    kill_all.set_id("c2");
    kill_all.set_signal(SIGKILL);
    kill_all.set_all(true);
    CHECK(f.call("Kill", kill_all)->code() == 0);
    CHECK(f.calls() == "create\nstart\nexec\nkill\n");
    task::KillRequest kill_one = kill_all;
    kill_one.set_all(false);
    CHECK(f.call("Kill", kill_one)->code() == not_found);
}

TEST_CASE("task service: unknown containers, methods and malformed requests")
{
    Fixture f;
    task::StateRequest st;
    st.set_id("nope");
    CHECK(f.call("State", st)->code() == not_found);
    task::KillRequest kill;
    kill.set_id("nope");
    CHECK(f.call("Kill", kill)->code() == not_found);
    CHECK(f.raw("Frobnicate", "")->code() == unimplemented);
    task::CheckpointTaskRequest cp;
    cp.set_id("nope");
    CHECK(f.call("Checkpoint", cp)->code() == unimplemented);
    CHECK(f.raw("State", std::string("\x0a\x7f", 2))->code() == invalid_argument); // truncated
    task::CreateTaskRequest noid;
    noid.set_bundle(f.bundle());
    CHECK(f.call("Create", noid)->code() == invalid_argument);

    // A runtime failure reaches containerd with the runtime's own message.
    f.create("c3");
    task::StartRequest start;
    start.set_id("c3");
    REQUIRE(f.call("Start", start)->code() == 0);
    std::ofstream(f.dir + "/fail-pause") << "";
    task::PauseRequest pause;
    pause.set_id("c3");
    Answer* a = f.call("Pause", pause);
    CHECK(a->code() != 0);
    CHECK(a->status.message.find("cannot pause") != std::string::npos);
    CHECK(f.state_status("c3") == running); // unchanged
    task::ShutdownRequest shut;
    CHECK(f.call("Shutdown", shut)->code() == 0);
    CHECK_FALSE(f.service->should_exit()); // c3 is still there
}
