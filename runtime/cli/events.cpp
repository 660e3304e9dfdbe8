// `husk events [--stats] [--interval D] ID`: the container's resource usage as JSON lines,
// as runc prints them. --stats prints one stats event and exits; otherwise a stats event
// every interval and an "oom" event whenever the cgroup has a process OOM-killed, until
// the container stops.
#include "runtime/cli/cli.hpp"

#include "common/log.hpp"
#include "runtime/events/events.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <poll.h>
#include <unistd.h>

namespace husk::cli {

namespace {

struct EventsFlags {
    std::string id;
    std::string interval = "5s";
    bool stats = false;
};

void print_line(const std::string& line)
{
    std::fputs(line.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

bool stopped(Runtime& rt, const std::string& id)
{
    auto st = rt.state(id);
    return !st || st->status == state::Status::Stopped;
}

Result<int> stream(Runtime& rt, const std::string& id, std::chrono::nanoseconds interval)
{
    using clock = std::chrono::steady_clock;
    auto cg = TRY(rt.cgroup(id));
    uint64_t oom_kills = TRY(cg->stats()).oom_kills;
    // An oom event for every rise of the kill counter since the last look.
    auto report_oom = [&](const cgroups::Stats& s) {
        if (s.oom_kills > oom_kills) {
            oom_kills = s.oom_kills;
            print_line(events::oom_event(id));
        }
    };
    auto watch = cg->watch_oom();
    if (!watch)
        log::warn("no OOM events for " + id + ": " + watch.error().message());
    auto next = clock::now() + interval;
    for (;;) {
        auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - clock::now()).count();
        pollfd p { watch ? watch->get() : -1, POLLIN, 0 };
        int n = ::poll(&p, 1, static_cast<int>(std::clamp<long long>(wait, 0, 60000)));
        if (n < 0 && errno != EINTR)
            return fail_errno("poll");
        if (n > 0 && (p.revents & POLLIN)) {
            char buf[4096];
            while (::read(p.fd, buf, sizeof buf) > 0) {
            }
            // A wakeup is a hint (v2: any memory event; v1: also the cgroup's removal): the
            // OOM kill counter says whether it was one.
            if (auto s = cg->stats())
                report_oom(*s);
            if (stopped(rt, id))
                return 0;
        }
        if (clock::now() < next)
            continue;
        next += interval;
        if (stopped(rt, id))
            return 0;
        auto s = cg->stats();
        if (!s) {
            log::warn("stats of " + id + ": " + s.error().message());
            continue;
        }
        report_oom(*s);
        print_line(events::stats_event(id, *s));
    }
}

} // namespace

void register_events(CLI::App& app, Context& ctx)
{
    auto f = std::make_shared<EventsFlags>();
    auto* cmd = app.add_subcommand("events", "display container events such as OOM notifications, cpu, memory, and IO usage statistics");
    cmd->add_option("id", f->id, "container id")->required();
    cmd->add_option("--interval", f->interval, "set the stats collection interval (default: 5s)");
    cmd->add_flag("--stats", f->stats, "display the container's stats then exit");
    cmd->callback([&ctx, f] {
        ctx.action = [&ctx, f]() -> Result<int> {
            auto interval = events::parse_duration(f->interval);
            if (!interval)
                return fail("invalid value \"" + f->interval + "\" for --interval: expected a duration such as 5s or 500ms");
            if (interval->count() <= 0)
                return fail("duration interval must be greater than 0");
            Runtime rt(ctx.globals.root);
            if (f->stats) {
                auto cg = TRY(rt.cgroup(f->id));
                print_line(events::stats_event(f->id, TRY(cg->stats())));
                return 0;
            }
            return stream(rt, f->id, *interval);
        };
    });
}

} // namespace husk::cli
