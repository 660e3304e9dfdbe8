#include "sandbox/host/sizing.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace husk::sandbox {

namespace {

// A non-negative integer member of OBJ, or 0 (absent, null, negative, not a number).
uint64_t number(const nlohmann::json& obj, const char* key)
{
    if (!obj.is_object())
        return 0;
    auto it = obj.find(key);
    if (it == obj.end())
        return 0;
    if (it->is_number_unsigned())
        return it->get<uint64_t>();
    if (it->is_number_integer() && it->get<int64_t>() > 0)
        return uint64_t(it->get<int64_t>());
    return 0;
}

// A positive decimal annotation value of OBJ[KEY] (digits only, at most 18), or 0.
uint64_t annotation_number(const nlohmann::json& obj, const char* key)
{
    if (!obj.is_object())
        return 0;
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_string())
        return 0;
    const auto& s = it->get_ref<const std::string&>();
    if (s.empty() || s.size() > 18)
        return 0;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + uint64_t(c - '0');
    }
    return v;
}

} // namespace

nlohmann::json pod_resources(const nlohmann::json& annotations)
{
    nlohmann::json r = nlohmann::json::object();
    uint64_t quota = annotation_number(annotations, "io.kubernetes.cri.sandbox-cpu-quota");
    uint64_t period = annotation_number(annotations, "io.kubernetes.cri.sandbox-cpu-period");
    uint64_t memory = annotation_number(annotations, "io.kubernetes.cri.sandbox-memory");
    if (quota > 0) {
        r["cpu"]["quota"] = quota;
        if (period > 0)
            r["cpu"]["period"] = period;
    }
    if (memory > 0)
        r["memory"]["limit"] = memory;
    return r;
}

VmSize larger(VmSize a, VmSize b)
{
    return VmSize{std::max(a.vcpus, b.vcpus), std::max(a.memory_mib, b.memory_mib)};
}

VmSize size_vm(const nlohmann::json& resources, const SandboxConfig& config, unsigned host_cpus)
{
    VmSize size;
    size.vcpus = config.default_vcpus;
    size.memory_mib = config.default_memory_mib;
    const nlohmann::json none = nlohmann::json::object();
    const auto& cpu = resources.is_object() && resources.contains("cpu") ? resources["cpu"] : none;
    const auto& mem = resources.is_object() && resources.contains("memory") ? resources["memory"] : none;

    uint64_t quota = number(cpu, "quota");
    uint64_t period = number(cpu, "period");
    if (period == 0)
        period = 100000;
    // Rounded up as a quotient and a remainder: quota + period - 1 would wrap for a quota near
    // 2^64, and a JSON number may be that large.
    if (quota > 0)
        size.vcpus = unsigned(std::min<uint64_t>(quota / period + (quota % period != 0), 1u << 16));
    size.vcpus = std::clamp(size.vcpus, 1u, std::max(1u, host_cpus));

    uint64_t limit = number(mem, "limit");
    if (limit > 0) {
        constexpr uint64_t mib = 1024 * 1024;
        uint64_t want = limit / mib + (limit % mib != 0) + config.overhead_mib;
        size.memory_mib = unsigned(std::min<uint64_t>(want, 1u << 22));
    }
    return size;
}

} // namespace husk::sandbox
