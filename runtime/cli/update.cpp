// `husk update [flags] ID` / `husk update -r FILE|- ID`: changes a live container's
// resource limits. The flags are runc's; each one given becomes a field of a
// linux.resources document, which -r gives whole (and then the flags are ignored, as
// runc does).
#include "runtime/cli/cli.hpp"

#include "common/fs.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>

namespace husk::cli {

namespace {

struct UpdateFlags {
    std::string id;
    std::string resources;
    // Strings, so that "not given" differs from 0; converted with the rules below.
    std::string blkio_weight, cpu_period, cpu_quota, cpu_share, cpu_rt_period, cpu_rt_runtime;
    std::string cpuset_cpus, cpuset_mems;
    std::string memory, memory_reservation, memory_swap, kernel_memory, kernel_memory_tcp;
    std::string pids_limit, l3_cache_schema, mem_bw_schema;
    CLI::App* cmd = nullptr;
};

// A byte count as runc takes it: "-1", or a number with an optional binary unit
// ("512", "64k", "1.5g", "2GiB", "100 MB").
Result<int64_t> parse_bytes(const std::string& flag, const std::string& text)
{
    if (text == "-1")
        return -1;
    size_t i = 0;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
        ++i;
    double v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + i, v);
    std::string unit = text.substr(i);
    if (!unit.empty() && unit.front() == ' ')
        unit.erase(0, 1);
    for (auto& c : unit)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    static const std::pair<const char*, double> units[] = {
        { "", 1 }, { "b", 1 }, { "k", 0x1p10 }, { "m", 0x1p20 }, { "g", 0x1p30 }, { "t", 0x1p40 }, { "p", 0x1p50 },
    };
    // "k", "kb", "kib" all mean KiB.
    std::string base = unit;
    if (base.size() >= 2 && base.ends_with("b"))
        base.pop_back();
    if (base.size() == 2 && base.ends_with("i"))
        base.pop_back();
    const double* mult = nullptr;
    for (const auto& [name, m] : units)
        if (base == name)
            mult = &m;
    if (i == 0 || ec != std::errc() || end != text.data() + i || !mult || v * *mult > 9.2e18)
        return fail("invalid value \"" + text + "\" for --" + flag + ": expected bytes, e.g. 512m, 2g or -1");
    return static_cast<int64_t>(v * *mult);
}

Result<int64_t> parse_int(const std::string& flag, const std::string& text)
{
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size())
        return fail("invalid value \"" + text + "\" for --" + flag + ": expected an integer");
    return v;
}

Result<uint64_t> parse_uint(const std::string& flag, const std::string& text)
{
    auto v = TRY(parse_int(flag, text));
    if (v < 0)
        return fail("invalid value \"" + text + "\" for --" + flag + ": must not be negative");
    return static_cast<uint64_t>(v);
}

// The linux.resources document the flags describe.
Result<std::string> resources_from_flags(const UpdateFlags& f)
{
    if (!f.l3_cache_schema.empty() || !f.mem_bw_schema.empty())
        return fail("Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported by husk");
    nlohmann::ordered_json r = nlohmann::ordered_json::object();
    auto given = [&](const char* name) { return f.cmd->count(std::string("--") + name) > 0; };
    if (given("memory"))
        r["memory"]["limit"] = TRY(parse_bytes("memory", f.memory));
    if (given("memory-reservation"))
        r["memory"]["reservation"] = TRY(parse_bytes("memory-reservation", f.memory_reservation));
    if (given("memory-swap"))
        r["memory"]["swap"] = TRY(parse_bytes("memory-swap", f.memory_swap));
    if (given("kernel-memory"))
        r["memory"]["kernel"] = TRY(parse_bytes("kernel-memory", f.kernel_memory));
    if (given("kernel-memory-tcp"))
        r["memory"]["kernelTCP"] = TRY(parse_bytes("kernel-memory-tcp", f.kernel_memory_tcp));
    if (given("cpu-share"))
        r["cpu"]["shares"] = TRY(parse_uint("cpu-share", f.cpu_share));
    if (given("cpu-quota"))
        r["cpu"]["quota"] = TRY(parse_int("cpu-quota", f.cpu_quota));
    if (given("cpu-period"))
        r["cpu"]["period"] = TRY(parse_uint("cpu-period", f.cpu_period));
    if (given("cpu-rt-runtime"))
        r["cpu"]["realtimeRuntime"] = TRY(parse_int("cpu-rt-runtime", f.cpu_rt_runtime));
    if (given("cpu-rt-period"))
        r["cpu"]["realtimePeriod"] = TRY(parse_uint("cpu-rt-period", f.cpu_rt_period));
    if (given("cpuset-cpus"))
        r["cpu"]["cpus"] = f.cpuset_cpus;
    if (given("cpuset-mems"))
        r["cpu"]["mems"] = f.cpuset_mems;
    if (given("blkio-weight")) {
        auto w = TRY(parse_uint("blkio-weight", f.blkio_weight));
        if (w != 0 && (w < 10 || w > 1000))
            return fail("invalid value \"" + f.blkio_weight + "\" for --blkio-weight: the range is 10 to 1000");
        r["blockIO"]["weight"] = w;
    }
    if (given("pids-limit"))
        r["pids"]["limit"] = TRY(parse_int("pids-limit", f.pids_limit));
    return r.dump();
}

Result<std::string> read_resources(const std::string& path)
{
    if (path == "-")
        return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    return TRY_CTX(fs::read_file(path), "read resources from " + path);
}

} // namespace

void register_update(CLI::App& app, Context& ctx)
{
    auto f = std::make_shared<UpdateFlags>();
    auto* cmd = app.add_subcommand("update", "update container resource constraints");
    f->cmd = cmd;
    cmd->add_option("id", f->id, "container id")->required();
    cmd->add_option("-r,--resources", f->resources,
                    "path to the file containing the resources to update or '-' to read from the standard input");
    cmd->add_option("--blkio-weight", f->blkio_weight, "Specifies per cgroup weight, range is from 10 to 1000");
    cmd->add_option("--cpu-period", f->cpu_period, "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default");
    cmd->add_option("--cpu-quota", f->cpu_quota, "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period");
    cmd->add_option("--cpu-share", f->cpu_share, "CPU shares (relative weight vs. other containers)");
    cmd->add_option("--cpu-rt-period", f->cpu_rt_period, "CPU realtime period to be used for hardcapping (in usecs). 0 to use system default");
    cmd->add_option("--cpu-rt-runtime", f->cpu_rt_runtime, "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period");
    cmd->add_option("--cpuset-cpus", f->cpuset_cpus, "CPU(s) to use");
    cmd->add_option("--cpuset-mems", f->cpuset_mems, "Memory node(s) to use");
    cmd->add_option("--kernel-memory", f->kernel_memory, "Kernel memory limit (in bytes) (deprecated, ignored)");
    cmd->add_option("--kernel-memory-tcp", f->kernel_memory_tcp, "Kernel memory limit for tcp buffer (in bytes) (deprecated, ignored)");
    cmd->add_option("--memory", f->memory, "Memory limit (in bytes)");
    cmd->add_option("--memory-reservation", f->memory_reservation, "Memory reservation or soft_limit (in bytes)");
    cmd->add_option("--memory-swap", f->memory_swap, "Total memory usage (memory + swap); set '-1' to enable unlimited swap");
    cmd->add_option("--pids-limit", f->pids_limit, "Maximum number of pids allowed in the container");
    cmd->add_option("--l3-cache-schema", f->l3_cache_schema, "The string of Intel RDT/CAT L3 cache schema");
    cmd->add_option("--mem-bw-schema", f->mem_bw_schema, "The string of Intel RDT/MBA memory bandwidth schema");
    cmd->callback([&ctx, f] {
        ctx.action = [&ctx, f]() -> Result<int> {
            std::string doc = f->resources.empty() ? TRY(resources_from_flags(*f)) : TRY(read_resources(f->resources));
            Runtime rt(ctx.globals.root);
            TRY(rt.update(f->id, doc));
            return 0;
        };
    });
}

} // namespace husk::cli
