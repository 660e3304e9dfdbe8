// Prints the default seccomp profile. With no options: seccomp-profiles/default.json, the
// profile resolved for the bounding set container engines give by default, on x86_64, for a
// current kernel. Options pick another resolution:
//   --caps CAP,CAP,...   the bounding set ("" for none)
//   --machine M          a machine as uname -m names it (aarch64, i686, s390x, ...)
//   --kernel RELEASE     a kernel release as uname -r gives it
// `--check FILE` compares FILE with the default instead, so the committed file cannot drift
// from the table in runtime/seccomp/default_profile.cpp (the build runs it as a test).
#include "common/fs.hpp"
#include "runtime/seccomp/default_profile.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace {

int usage(const char* argv0)
{
    std::fprintf(stderr, "usage: %s [--caps CAP,...] [--machine M] [--kernel RELEASE] | --check FILE\n", argv0);
    return 2;
}

std::vector<std::string> split(const std::string& list)
{
    std::vector<std::string> out;
    size_t start = 0;
    while (start < list.size()) {
        size_t comma = list.find(',', start);
        if (comma == std::string::npos)
            comma = list.size();
        if (comma > start)
            out.push_back(list.substr(start, comma - start));
        start = comma + 1;
    }
    return out;
}

} // namespace

int main(int argc, char** argv)
{
    std::vector<std::string> caps;
    for (auto cap : husk::seccomp::engine_default_caps())
        caps.emplace_back(cap);
    std::string machine = "x86_64";
    std::string kernel;
    std::string check;
    for (int i = 1; i < argc; i++) {
        std::string opt = argv[i];
        if (i + 1 >= argc)
            return usage(argv[0]);
        std::string value = argv[++i];
        if (opt == "--caps")
            caps = split(value);
        else if (opt == "--machine")
            machine = value;
        else if (opt == "--kernel")
            kernel = value;
        else if (opt == "--check")
            check = value;
        else
            return usage(argv[0]);
    }
    if (!check.empty() && argc != 3)
        return usage(argv[0]);

    std::string want = husk::seccomp::default_profile_json(caps, machine, kernel);
    if (check.empty()) {
        std::fwrite(want.data(), 1, want.size(), stdout);
        return std::fflush(stdout) == 0 ? 0 : 1;
    }
    auto have = husk::fs::read_file(check);
    if (!have) {
        std::fprintf(stderr, "%s\n", have.error().message().c_str());
        return 1;
    }
    if (*have != want) {
        std::fprintf(stderr,
                     "%s is not the profile the table in runtime/seccomp/default_profile.cpp gives;\n"
                     "regenerate it: %s > %s\n",
                     check.c_str(), argv[0], check.c_str());
        return 1;
    }
    return 0;
}
