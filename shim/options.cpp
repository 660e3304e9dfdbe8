#include "shim/options.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <optional>
#include <sys/stat.h>

namespace husk::shim {

Result<ShimArgs> parse_args(int argc, const char* const* argv)
{
    ShimArgs a;
    std::map<std::string, std::string*> strings = {
        {"namespace", &a.ns},           {"id", &a.id},         {"address", &a.address},
        {"publish-binary", &a.publish_binary}, {"bundle", &a.bundle}, {"socket", &a.socket},
    };
    std::map<std::string, bool*> bools = {{"debug", &a.debug}, {"v", &a.version}};
    int i = 1;
    for (; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg.size() < 2 || arg[0] != '-')
            break;
        if (arg == "--") {
            ++i;
            break;
        }
        arg.remove_prefix(arg.starts_with("--") ? 2 : 1);
        std::string name(arg.substr(0, arg.find('=')));
        std::optional<std::string> value;
        if (auto eq = arg.find('='); eq != std::string_view::npos)
            value = std::string(arg.substr(eq + 1));
        if (auto b = bools.find(name); b != bools.end()) {
            if (!value || *value == "true" || *value == "1")
                *b->second = true;
            else if (*value == "false" || *value == "0")
                *b->second = false;
            else
                return fail("invalid value \"" + *value + "\" for flag -" + name);
            continue;
        }
        auto s = strings.find(name);
        if (s == strings.end())
            return fail("flag provided but not defined: -" + name);
        if (!value) {
            if (i + 1 >= argc)
                return fail("flag needs an argument: -" + name);
            value = argv[++i];
        }
        *s->second = *value;
    }
    if (i < argc)
        a.action = argv[i++];
    if (i < argc)
        return fail(std::string("unexpected argument: ") + argv[i]);
    if (!a.action.empty() && a.action != "start" && a.action != "delete")
        return fail("unknown action \"" + a.action + "\" (start or delete)");
    return a;
}

std::string default_config_path()
{
    const char* env = std::getenv("HUSK_SHIM_CONFIG");
    return env && *env ? env : "/etc/husk/shim.yaml";
}

Result<ShimConfig> load_config(const std::string& path, bool must_exist)
{
    ShimConfig c;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (!must_exist && errno == ENOENT)
            return c;
        return fail_errno("shim config " + path);
    }
    try {
        YAML::Node doc = YAML::LoadFile(path);
        if (doc.IsNull())
            return c;
        if (!doc.IsMap())
            return fail("shim config " + path + ": not a mapping of settings");
        for (const auto& kv : doc) {
            const auto key = kv.first.as<std::string>();
            if (key == "runtime")
                c.runtime = kv.second.as<std::string>();
            else if (key == "root")
                c.root = kv.second.as<std::string>();
            else if (key == "systemd_cgroup")
                c.systemd_cgroup = kv.second.as<bool>();
            else if (key == "debug")
                c.debug = kv.second.as<bool>();
            else if (key == "sandbox")
                c.sandbox = kv.second.as<std::string>();
            else if (key == "sandbox_config")
                c.sandbox_config = kv.second.as<std::string>();
            else
                return fail("shim config " + path + ": unknown setting \"" + key + "\"");
        }
    } catch (const YAML::Exception& e) {
        return fail("shim config " + path + ": " + e.what());
    }
    if (c.runtime.empty())
        return fail("shim config " + path + ": runtime is empty");
    if (c.root.empty() || c.root.front() != '/')
        return fail("shim config " + path + ": root must be an absolute path");
    if (!c.sandbox.empty() && c.sandbox != "vm" && c.sandbox != "none")
        return fail("shim config " + path + ": sandbox must be vm or none, not \"" + c.sandbox + "\"");
    if (!c.sandbox_config.empty() && c.sandbox_config.front() != '/')
        return fail("shim config " + path + ": sandbox_config must be an absolute path");
    return c;
}

Result<WireFields> read_wire_fields(std::string_view m)
{
    WireFields f;
    std::size_t pos = 0;
    auto varint = [&](std::uint64_t& out) -> bool {
        out = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos >= m.size())
                return false;
            auto b = static_cast<std::uint8_t>(m[pos++]);
            out |= std::uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80))
                return true;
        }
        return false;
    };
    while (pos < m.size()) {
        std::uint64_t key;
        if (!varint(key))
            return fail("truncated protobuf field key");
        auto number = static_cast<std::uint32_t>(key >> 3);
        switch (key & 7) {
        case 0: {
            std::uint64_t v;
            if (!varint(v))
                return fail("truncated protobuf varint");
            f.varints[number] = v;
            break;
        }
        case 1:
            if (m.size() - pos < 8)
                return fail("truncated protobuf fixed64");
            pos += 8;
            break;
        case 2: {
            std::uint64_t len;
            if (!varint(len) || len > m.size() - pos)
                return fail("truncated protobuf length-delimited field");
            f.bytes[number] = std::string(m.substr(pos, len));
            pos += len;
            break;
        }
        case 5:
            if (m.size() - pos < 4)
                return fail("truncated protobuf fixed32");
            pos += 4;
            break;
        default:
            return fail("unsupported protobuf wire type " + std::to_string(key & 7));
        }
    }
    return f;
}

Result<RuntimeOptions> decode_runtime_options(std::string_view type_url, std::string_view value)
{
    RuntimeOptions o;
    auto name = type_url.substr(type_url.rfind('/') == std::string_view::npos ? 0 : type_url.rfind('/') + 1);
    if (name == "containerd.runc.v1.Options") {
        // BinaryName = 6, Root = 7, SystemdCgroup = 9.
        auto f = TRY_CTX(read_wire_fields(value), "runtime options");
        if (f.bytes.contains(6))
            o.binary_name = f.bytes[6];
        if (f.bytes.contains(7))
            o.root = f.bytes[7];
        o.systemd_cgroup = f.varints.contains(9) && f.varints[9] != 0;
    } else if (name == "runtimeoptions.v1.Options") {
        // TypeUrl = 1, ConfigPath = 2.
        auto f = TRY_CTX(read_wire_fields(value), "runtime options");
        if (f.bytes.contains(2))
            o.config_path = f.bytes[2];
    }
    return o;
}

Result<RuntimeOptions> decode_runtime_options_any(std::string_view any_bytes)
{
    if (any_bytes.empty())
        return RuntimeOptions{};
    auto f = TRY_CTX(read_wire_fields(any_bytes), "runtime options");
    return decode_runtime_options(f.bytes[1], f.bytes[2]);
}

RuntimeConfig runtime_config(const ShimConfig& config, const RuntimeOptions& options, const std::string& ns)
{
    RuntimeConfig r;
    r.binary = options.binary_name.empty() ? config.runtime : options.binary_name;
    r.root = (options.root.empty() ? config.root : options.root) + "/" + (ns.empty() ? "default" : ns);
    r.systemd_cgroup = options.systemd_cgroup || config.systemd_cgroup;
    r.sandbox = config.sandbox;
    r.sandbox_config = config.sandbox_config;
    return r;
}

} // namespace husk::shim
