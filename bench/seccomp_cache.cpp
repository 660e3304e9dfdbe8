// bench/seccomp_cache.cpp: what the compiled-filter cache saves per container. Times, in
// one process, N compiles of a profile without the cache (the JSON parse, libseccomp's
// rule database and BPF generation: what create and exec did for every container before)
// against N loads of the same profile from a warm cache (open, read, compare the key
// material), interleaved, and prints the medians in microseconds.
//
//   seccomp-cache-bench [N]        the default profile for the engines' default capabilities
//   seccomp-cache-bench N FILE     a linux.seccomp object from FILE
#include "runtime/seccomp/default_profile.hpp"
#include "runtime/seccomp/seccomp.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/utsname.h>
#include <unistd.h>
#include <vector>

namespace {

double now_us()
{
    timespec ts {};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv)
{
    int n = argc > 1 ? std::atoi(argv[1]) : 200;
    std::string text;
    if (argc > 2) {
        std::ifstream in(argv[2]);
        std::stringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    } else {
        std::vector<std::string> caps;
        for (auto c : husk::seccomp::engine_default_caps())
            caps.emplace_back(c);
        utsname u {};
        uname(&u);
        text = husk::seccomp::default_profile_json(caps, u.machine, u.release);
    }
    char tmpl[] = "/tmp/husk-seccomp-bench.XXXXXX";
    if (!mkdtemp(tmpl))
        return 1;
    std::string dir = std::string(tmpl) + "/cache";

    auto warm = husk::seccomp::compile_cached(text, dir);
    if (!warm) {
        std::fprintf(stderr, "compile: %s\n", warm.error().message().c_str());
        return 1;
    }
    std::vector<double> compile, cached;
    for (int i = 0; i < n; i++) {
        double t0 = now_us();
        auto a = husk::seccomp::compile(text);
        double t1 = now_us();
        auto b = husk::seccomp::compile_cached(text, dir);
        double t2 = now_us();
        if (!a || !b || a->code.size() != b->code.size())
            return 1;
        compile.push_back(t1 - t0);
        cached.push_back(t2 - t1);
    }
    double c = median(compile), h = median(cached);
    std::printf("profile: %zu bytes of JSON, %zu BPF instructions; %d rounds\n", text.size(), warm->code.size(), n);
    std::printf("compile (no cache): median %.0f us\n", c);
    std::printf("cache hit:          median %.0f us\n", h);
    std::printf("saved per container: %.0f us (%.1fx faster)\n", c - h, c / h);
    std::string cmd = std::string("rm -rf ") + tmpl;
    return std::system(cmd.c_str()) == 0 ? 0 : 1;
}
