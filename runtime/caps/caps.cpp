#include "runtime/caps/caps.hpp"

#include "common/fs.hpp"

#include <algorithm>
#include <sys/capability.h>
#include <sys/prctl.h>

namespace husk::caps {

namespace {

std::string cap_label(int cap)
{
    char* name = cap_to_name(static_cast<cap_value_t>(cap));
    std::string out = name ? name : std::to_string(cap);
    if (name)
        cap_free(name);
    for (auto& c : out)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

bool contains(const std::vector<int>& v, int cap) { return std::find(v.begin(), v.end(), cap) != v.end(); }

} // namespace

int last_cap()
{
    static int cached = [] {
        auto text = fs::read_file("/proc/sys/kernel/cap_last_cap");
        return text ? std::atoi(text->c_str()) : CAP_LAST_CAP;
    }();
    return cached;
}

Result<> check_available(const spec::Capabilities& caps)
{
    for (const auto* set : { &caps.bounding, &caps.effective, &caps.permitted, &caps.inheritable, &caps.ambient }) {
        for (int cap : *set) {
            if (cap > last_cap())
                return fail("capability " + cap_label(cap) + " is not known to this kernel");
            if (cap_get_bound(static_cast<cap_value_t>(cap)) != 1)
                return fail("capability " + cap_label(cap)
                            + " is not in husk's bounding set, so the container cannot be given it");
        }
    }
    return {};
}

Result<> prepare_for_user_change(const spec::Capabilities* caps)
{
    for (int cap = 0; cap <= last_cap(); ++cap) {
        if (caps && contains(caps->bounding, cap))
            continue;
        if (cap_drop_bound(static_cast<cap_value_t>(cap)) < 0 && errno != EINVAL)
            return fail_errno("drop " + cap_label(cap) + " from the bounding set");
    }
    if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return fail_errno("prctl(PR_SET_KEEPCAPS)");
    return {};
}

Result<> apply(const spec::Capabilities* caps)
{
    if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return fail_errno("prctl(PR_SET_KEEPCAPS)");
    cap_t state = cap_init();
    if (!state)
        return fail_errno("cap_init");
    auto set = [&](const std::vector<int>& list, cap_flag_t flag) {
        std::vector<cap_value_t> values(list.begin(), list.end());
        if (!values.empty())
            cap_set_flag(state, flag, static_cast<int>(values.size()), values.data(), CAP_SET);
    };
    if (caps) {
        set(caps->effective, CAP_EFFECTIVE);
        set(caps->permitted, CAP_PERMITTED);
        set(caps->inheritable, CAP_INHERITABLE);
    }
    int rc = cap_set_proc(state);
    int err = errno;
    cap_free(state);
    if (rc < 0)
        return fail_errno(err, "set capabilities");
    if (cap_reset_ambient() < 0 && errno != EINVAL)
        return fail_errno("clear ambient capabilities");
    if (caps) {
        // An ambient capability must also be permitted and inheritable. Specs commonly
        // list ambient capabilities without inheritable ones (the default spec does);
        // those are skipped, as other runtimes do, rather than failing the container.
        for (int cap : caps->ambient)
            (void)cap_set_ambient(static_cast<cap_value_t>(cap), CAP_SET);
    }
    return {};
}

} // namespace husk::caps
