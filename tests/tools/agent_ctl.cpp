// agent_ctl SOCKET METHOD [JSON]: one call of the husk-agent API (sandbox/proto/agent.proto)
// for the integration tests. The request is given as JSON with the proto's field names
// (config_json and process_json may be JSON objects as well as strings; bytes fields are
// strings); the response is printed as one JSON object. A failed call prints
// "agent_ctl: MESSAGE (code N)" on stderr and exits 1; bad usage exits 2.
// The messages are protobuf-lite (no reflection, so no JsonStringToMessage): each method's
// fields are mapped here.
#include "common/unix_socket.hpp"
#include "sandbox/host/agent_client.hpp"
#include "sandbox/proto/agent.pb.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <sys/socket.h>

namespace pb = husk::sandbox::v1;
using json = nlohmann::json;

namespace {

std::string text_of(const json& j, const char* key)
{
    if (!j.contains(key))
        return {};
    const json& v = j[key];
    return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string str(const json& j, const char* key) { return j.value(key, std::string()); }
bool flag(const json& j, const char* key) { return j.value(key, false); }
uint32_t num(const json& j, const char* key) { return j.value(key, 0u); }

using Call = std::function<json(husk::sandbox::AgentClient&, const json&)>;

int g_timeout = 30'000;

void call(husk::sandbox::AgentClient& c, const char* method, const google::protobuf::MessageLite& req,
          google::protobuf::MessageLite& resp)
{
    if (auto r = c.call(method, req, resp, g_timeout); !r) {
        std::fprintf(stderr, "agent_ctl: %s (code %d)\n", r.error().message().c_str(), c.last_status_code());
        std::exit(1);
    }
}

pb::ContainerRequest container(const json& j)
{
    pb::ContainerRequest r;
    r.set_container_id(str(j, "container_id"));
    return r;
}

pb::ProcessRequest process(const json& j)
{
    pb::ProcessRequest r;
    r.set_container_id(str(j, "container_id"));
    r.set_exec_id(str(j, "exec_id"));
    return r;
}

const char* status_name(pb::Status s)
{
    switch (s) {
    case pb::CREATED: return "CREATED";
    case pb::RUNNING: return "RUNNING";
    case pb::PAUSED: return "PAUSED";
    case pb::STOPPED: return "STOPPED";
    default: return "UNKNOWN";
    }
}

std::map<std::string, Call> methods()
{
    std::map<std::string, Call> m;
    m["Ping"] = [](auto& c, const json&) {
        pb::PingRequest req;
        pb::PingResponse resp;
        call(c, "Ping", req, resp);
        return json { { "agent_version", resp.agent_version() }, { "kernel_release", resp.kernel_release() },
                      { "uptime_seconds", resp.uptime_seconds() } };
    };
    m["CreateContainer"] = [](auto& c, const json& j) {
        pb::CreateContainerRequest req;
        req.set_container_id(str(j, "container_id"));
        req.set_config_json(text_of(j, "config_json"));
        req.set_rootfs_tag(str(j, "rootfs_tag"));
        req.set_stdin(flag(j, "stdin"));
        for (const auto& s : j.value("shares", json::array())) {
            auto* share = req.add_shares();
            share->set_tag(str(s, "tag"));
            share->set_guest_path(str(s, "guest_path"));
            share->set_readonly(flag(s, "readonly"));
        }
        pb::Empty resp;
        call(c, "CreateContainer", req, resp);
        return json::object();
    };
    m["StartContainer"] = [](auto& c, const json& j) {
        pb::StartResponse resp;
        call(c, "StartContainer", container(j), resp);
        return json { { "pid", resp.pid() } };
    };
    m["ExecProcess"] = [](auto& c, const json& j) {
        pb::ExecProcessRequest req;
        req.set_container_id(str(j, "container_id"));
        req.set_exec_id(str(j, "exec_id"));
        req.set_process_json(text_of(j, "process_json"));
        req.set_stdin(flag(j, "stdin"));
        pb::StartResponse resp;
        call(c, "ExecProcess", req, resp);
        return json { { "pid", resp.pid() } };
    };
    m["SignalProcess"] = [](auto& c, const json& j) {
        pb::SignalProcessRequest req;
        req.set_container_id(str(j, "container_id"));
        req.set_exec_id(str(j, "exec_id"));
        req.set_signal(num(j, "signal"));
        req.set_all(flag(j, "all"));
        pb::Empty resp;
        call(c, "SignalProcess", req, resp);
        return json::object();
    };
    m["WaitProcess"] = [](auto& c, const json& j) {
        pb::WaitProcessResponse resp;
        call(c, "WaitProcess", process(j), resp);
        return json { { "exit_status", resp.exit_status() }, { "exited_at_unix_nano", resp.exited_at_unix_nano() } };
    };
    m["State"] = [](auto& c, const json& j) {
        pb::StateResponse resp;
        call(c, "State", container(j), resp);
        return json { { "container_id", resp.container_id() }, { "status", status_name(resp.status()) },
                      { "pid", resp.pid() }, { "exit_status", resp.exit_status() } };
    };
    m["Stats"] = [](auto& c, const json& j) {
        pb::StatsResponse resp;
        call(c, "Stats", container(j), resp);
        return json { { "memory_usage_bytes", resp.memory_usage_bytes() },
                      { "memory_limit_bytes", resp.memory_limit_bytes() },
                      { "cpu_usage_usec", resp.cpu_usage_usec() }, { "pids_current", resp.pids_current() } };
    };
    m["ListPids"] = [](auto& c, const json& j) {
        pb::ListPidsResponse resp;
        call(c, "ListPids", container(j), resp);
        json procs = json::array();
        for (const auto& p : resp.processes())
            procs.push_back({ { "pid", p.pid() }, { "command", p.command() } });
        return json { { "processes", procs } };
    };
    for (const char* name : { "Pause", "Resume" }) {
        m[name] = [name](auto& c, const json& j) {
            pb::Empty resp;
            call(c, name, container(j), resp);
            return json::object();
        };
    }
    m["ReadStream"] = [](auto& c, const json& j) {
        pb::ReadStreamRequest req;
        req.set_container_id(str(j, "container_id"));
        req.set_exec_id(str(j, "exec_id"));
        req.set_stream(str(j, "stream") == "STDERR" ? pb::STDERR : pb::STDOUT);
        req.set_max_bytes(num(j, "max_bytes"));
        pb::ReadStreamResponse resp;
        call(c, "ReadStream", req, resp);
        return json { { "data", resp.data() }, { "eof", resp.eof() } };
    };
    m["WriteStdin"] = [](auto& c, const json& j) {
        pb::WriteStdinRequest req;
        req.set_container_id(str(j, "container_id"));
        req.set_exec_id(str(j, "exec_id"));
        req.set_data(str(j, "data"));
        pb::WriteStdinResponse resp;
        call(c, "WriteStdin", req, resp);
        return json { { "written", resp.written() } };
    };
    m["CloseStdin"] = [](auto& c, const json& j) {
        pb::Empty resp;
        call(c, "CloseStdin", process(j), resp);
        return json::object();
    };
    m["ResizePty"] = [](auto& c, const json& j) {
        pb::ResizePtyRequest req;
        req.set_container_id(str(j, "container_id"));
        req.set_exec_id(str(j, "exec_id"));
        req.set_width(num(j, "width"));
        req.set_height(num(j, "height"));
        pb::Empty resp;
        call(c, "ResizePty", req, resp);
        return json::object();
    };
    m["DeleteContainer"] = [](auto& c, const json& j) {
        pb::DeleteContainerRequest req;
        req.set_container_id(str(j, "container_id"));
        req.set_force(flag(j, "force"));
        pb::Empty resp;
        call(c, "DeleteContainer", req, resp);
        return json::object();
    };
    m["Shutdown"] = [](auto& c, const json&) {
        pb::Empty req, resp;
        call(c, "Shutdown", req, resp);
        return json::object();
    };
    return m;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 3 || argc > 4) {
        std::fprintf(stderr, "usage: agent_ctl SOCKET METHOD [JSON]\n");
        return 2;
    }
    if (const char* t = std::getenv("AGENT_CTL_TIMEOUT_MS"))
        g_timeout = std::atoi(t);
    auto all = methods();
    auto it = all.find(argv[2]);
    if (it == all.end()) {
        std::fprintf(stderr, "agent_ctl: unknown method %s\n", argv[2]);
        return 2;
    }
    json request = json::object();
    if (argc == 4) {
        request = json::parse(argv[3], nullptr, false);
        if (request.is_discarded() || !request.is_object()) {
            std::fprintf(stderr, "agent_ctl: the request is not a JSON object\n");
            return 2;
        }
    }
    sockaddr_un addr;
    auto len = husk::unix_address(argv[1], addr);
    int fd = len ? ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), *len) < 0) {
        std::perror("agent_ctl: connect");
        return 1;
    }
    husk::sandbox::AgentClient client { husk::Fd(fd) };
    try {
        json out = it->second(client, request);
        std::puts(out.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "agent_ctl: %s\n", e.what());
        return 2;
    }
    return 0;
}
