#include "sandbox/host/config.hpp"

#include "common/fs.hpp"

#include <algorithm>
#include <cstdlib>
#include <yaml-cpp/yaml.h>

namespace husk::sandbox {

std::string default_config_path()
{
    const char* env = std::getenv("HUSK_CONFIG");
    return env && *env ? env : "/etc/husk/husk.yaml";
}

namespace {

Result<std::string> text_value(const YAML::Node& node, const std::string& key, const std::string& where)
{
    if (!node.IsScalar())
        return fail(where + ": sandbox." + key + " must be a string");
    return node.Scalar();
}

Result<unsigned> count_value(const YAML::Node& node, const std::string& key, const std::string& where, unsigned min,
                             unsigned max)
{
    if (!node.IsScalar())
        return fail(where + ": sandbox." + key + " must be a number");
    const std::string& s = node.Scalar();
    char* end = nullptr;
    errno = 0;
    unsigned long v = std::strtoul(s.c_str(), &end, 10);
    if (s.empty() || s[0] == '-' || *end != '\0' || errno == ERANGE || v < min || v > max)
        return fail(where + ": sandbox." + key + " must be a whole number from " + std::to_string(min) + " to "
                    + std::to_string(max) + ", not \"" + s + "\"");
    return unsigned(v);
}

} // namespace

Result<SandboxConfig> parse_config(const std::string& text, const std::string& where)
{
    SandboxConfig c;
    YAML::Node doc;
    try {
        doc = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        return fail(where + ": " + e.what());
    }
    if (doc.IsNull())
        return c;
    if (!doc.IsMap())
        return fail(where + ": expected a mapping at the top");
    YAML::Node s = doc["sandbox"];
    if (!s || s.IsNull())
        return c;
    if (!s.IsMap())
        return fail(where + ": sandbox must be a mapping");
    for (const auto& kv : s) {
        if (!kv.first.IsScalar())
            return fail(where + ": sandbox: a key that is not a name");
        const std::string key = kv.first.Scalar();
        const YAML::Node& v = kv.second;
        // `key:` with no value (null) leaves the default, like a key not written.
        static constexpr const char* known[] = {"mode", "image_dir", "kernel", "initrd", "qemu", "accel",
                                                "overhead_mib", "default_memory_mib", "default_vcpus",
                                                "boot_timeout_seconds"};
        if (v.IsNull() && std::find(std::begin(known), std::end(known), key) != std::end(known))
            continue;
        if (key == "mode") {
            c.mode = TRY(text_value(v, key, where));
            if (c.mode != "none" && c.mode != "vm")
                return fail(where + ": sandbox.mode must be none or vm, not \"" + c.mode + "\"");
        } else if (key == "accel") {
            c.accel = TRY(text_value(v, key, where));
            if (c.accel != "auto" && c.accel != "kvm" && c.accel != "tcg")
                return fail(where + ": sandbox.accel must be auto, kvm or tcg, not \"" + c.accel + "\"");
        } else if (key == "image_dir") {
            c.image_dir = TRY(text_value(v, key, where));
        } else if (key == "kernel") {
            c.kernel = TRY(text_value(v, key, where));
        } else if (key == "initrd") {
            c.initrd = TRY(text_value(v, key, where));
        } else if (key == "qemu") {
            c.qemu = TRY(text_value(v, key, where));
        } else if (key == "overhead_mib") {
            c.overhead_mib = TRY(count_value(v, key, where, 0, 1 << 20));
        } else if (key == "default_memory_mib") {
            c.default_memory_mib = TRY(count_value(v, key, where, 64, 1 << 22));
        } else if (key == "default_vcpus") {
            c.default_vcpus = TRY(count_value(v, key, where, 1, 1024));
        } else if (key == "boot_timeout_seconds") {
            c.boot_timeout_seconds = TRY(count_value(v, key, where, 1, 3600));
        } else {
            return fail(where + ": unknown key sandbox." + key);
        }
    }
    for (const std::string* p : {&c.image_dir, &c.kernel, &c.initrd}) {
        if (!p->empty() && (*p)[0] != '/')
            return fail(where + ": sandbox paths must be absolute, not \"" + *p + "\"");
    }
    return c;
}

Result<SandboxConfig> load_config(const std::string& path)
{
    std::string p = path.empty() ? default_config_path() : path;
    if (!fs::exists(p))
        return SandboxConfig{};
    auto text = TRY(fs::read_file(p));
    return parse_config(text, p);
}

} // namespace husk::sandbox
