// `husk spec [--bundle DIR] [--rootless] [--seccomp PROFILE]`: writes a starting config.json.
// Without --seccomp the document is runc's, byte for byte; with it, linux.seccomp is added.
#include "common/fs.hpp"
#include "runtime/cli/cli.hpp"
#include "runtime/seccomp/default_profile.hpp"
#include "runtime/seccomp/seccomp.hpp"
#include "runtime/spec/config.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <utility>
#include <sys/utsname.h>
#include <unistd.h>

namespace husk::cli {

namespace {

using ojson = nlohmann::ordered_json;

// The linux.seccomp object --seccomp names: "default" is husk's default profile resolved for
// the bounding set of the spec being written, on this machine and kernel; anything else is
// a file holding a linux.seccomp object. Either way it must compile here, so a config.json
// is never written with a profile that create would refuse.
Result<ojson> seccomp_profile(const std::string& profile, const ojson& spec)
{
    std::string text;
    std::string what;
    if (profile == "default") {
        std::vector<std::string> caps;
        for (const auto& cap : spec["process"]["capabilities"]["bounding"])
            caps.push_back(cap.get<std::string>());
        struct utsname u {};
        if (::uname(&u) != 0)
            return fail_errno("uname");
        text = seccomp::default_profile_json(caps, u.machine, u.release);
        what = "the default seccomp profile";
    } else {
        what = "seccomp profile " + profile;
        text = TRY_CTX(fs::read_file(profile), what);
        // compile takes empty text as "no linux.seccomp"; a file is meant to hold one.
        if (text.find_first_not_of(" \t\r\n") == std::string::npos)
            return fail(what + ": the file is empty");
    }
    TRY_CTX(seccomp::compile(text), what);
    // Parsed with its key order kept: the profile goes into config.json as written.
    return ojson::parse(text);
}

// Puts linux.seccomp where runc's config.json has it, after namespaces and devices and
// before maskedPaths (the runtime-spec's field order), so the file reads like one it wrote.
void insert_seccomp(ojson& spec, ojson profile)
{
    static constexpr std::string_view after_seccomp[] = {"rootfsPropagation", "maskedPaths", "readonlyPaths",
                                                         "mountLabel", "intelRdt"};
    ojson& linux = spec["linux"];
    ojson out = ojson::object();
    for (auto& [key, value] : linux.items()) {
        if (!profile.is_null() && std::ranges::find(after_seccomp, key) != std::end(after_seccomp))
            out["seccomp"] = std::exchange(profile, nullptr);
        out[key] = std::move(value);
    }
    if (!profile.is_null())
        out["seccomp"] = std::move(profile);
    linux = std::move(out);
}

} // namespace

void register_spec(CLI::App& app, Context& ctx)
{
    struct SpecFlags {
        std::string bundle;
        bool rootless = false;
        std::string seccomp;
    };
    auto flags = std::make_shared<SpecFlags>();
    auto* cmd = app.add_subcommand("spec", "create a new specification file");
    cmd->add_option("-b,--bundle", flags->bundle, "path to the root of the bundle directory");
    cmd->add_flag("--rootless", flags->rootless, "generate a configuration for a rootless container");
    cmd->add_option("--seccomp", flags->seccomp,
                    "add linux.seccomp: \"default\" for husk's default profile (for this spec's capabilities), "
                    "or a file holding a linux.seccomp object");
    cmd->callback([&ctx, flags] {
        ctx.action = [flags]() -> Result<int> {
            std::string dir = flags->bundle.empty() ? fs::current_dir() : flags->bundle;
            std::string path = dir + "/config.json";
            if (fs::exists(path))
                return fail("File " + path + " exists. Remove it first");
            std::string text = spec::default_spec_json(flags->rootless, ::getuid(), ::getgid());
            if (!flags->seccomp.empty()) {
                ojson doc = ojson::parse(text);
                insert_seccomp(doc, TRY(seccomp_profile(flags->seccomp, doc)));
                // The same layout as the document without it: tabs, no final newline.
                text = doc.dump(1, '\t');
            }
            TRY(fs::write_file(path, text, 0666 & ~0022));
            return 0;
        };
    });
}

} // namespace husk::cli
