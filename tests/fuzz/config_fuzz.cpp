// libFuzzer target for the config.json parser and validator: the bytes go, unchanged, to
// the entry points that read untrusted JSON before a container exists. parse_config is what
// `create` and `run` call on BUNDLE/config.json; when it accepts the text, linux.seccomp is
// compiled as `create` compiles it next. The same bytes are also given to parse_resources
// (`update -r FILE`) and parse_process (`exec --process FILE`), so one corpus of JSON
// objects drives all of them. Only parsing and validation run here: the bundle path is never
// opened, and seccomp::compile installs nothing (its flag probe passes no program and its
// BPF export goes through an anonymous memfd). Built and run by tests/fuzz/run.sh.
#include "runtime/seccomp/seccomp.hpp"
#include "runtime/spec/config.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

// Any absolute directory: parse_config only joins relative paths onto it.
const std::string fake_bundle = "/fuzz/bundle";

// What the parser promises about an accepted config; a broken promise is a finding.
void check(const husk::spec::Config& c)
{
    if (c.root.path.empty() || c.root.path.front() != '/')
        std::abort();
    for (const auto& m : c.mounts) {
        if (m.destination.empty() || m.destination.front() != '/')
            std::abort();
        if (m.is_bind() && (m.source.empty() || m.source.front() != '/'))
            std::abort();
    }
    if (c.has_process && (c.process.args.empty() || c.process.cwd.front() != '/'))
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);

    if (auto config = husk::spec::parse_config(text, fake_bundle)) {
        check(*config);
        (void)husk::seccomp::compile(config->linux.seccomp_json);
    }
    (void)husk::spec::parse_resources(text);
    (void)husk::spec::parse_process(text);
    return 0;
}
