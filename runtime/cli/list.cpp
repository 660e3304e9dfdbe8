// `husk list [--format table|json] [-q]`: the containers under --root.
#include "runtime/cli/cli.hpp"
#include "sandbox/host/vm_container.hpp"
#include "runtime/cli/state_json.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>

namespace husk::cli {

namespace {

// Columns as an elastic tab stop would lay them out: at least 12 wide, 3 spaces of
// padding after the widest cell, the last column unpadded.
std::string table(const std::vector<std::vector<std::string>>& rows)
{
    std::vector<size_t> width;
    for (const auto& row : rows)
        for (size_t i = 0; i + 1 < row.size(); ++i) {
            if (width.size() <= i)
                width.push_back(0);
            width[i] = std::max(width[i], row[i].size() + 3);
        }
    std::string out;
    for (const auto& row : rows) {
        for (size_t i = 0; i < row.size(); ++i) {
            out += row[i];
            if (i + 1 < row.size())
                out.append(std::max<size_t>(width[i], 12) - row[i].size(), ' ');
        }
        out += '\n';
    }
    return out;
}

} // namespace

void register_list(CLI::App& app, Context& ctx)
{
    struct ListFlags {
        std::string format = "table";
        bool quiet = false;
    };
    auto flags = std::make_shared<ListFlags>();
    auto* cmd = app.add_subcommand("list", "lists containers started by husk with the given root");
    cmd->add_option("-f,--format", flags->format, "select one of: table or json (default: \"table\")")
        ->check(CLI::IsMember({ "table", "json" }));
    cmd->add_flag("-q,--quiet", flags->quiet, "display only container IDs");
    cmd->callback([&ctx, flags] {
        ctx.action = [&ctx, flags]() -> Result<int> {
            Runtime rt(ctx.globals.root);
            auto views = TRY(rt.list());
            // Containers in VM sandboxes keep sandbox.json instead of state.json: their state
            // comes from the sandbox, not from the runtime's view of a directory without one.
            std::erase_if(views, [&](const StateView& v) { return sandbox::is_vm_container(ctx.globals.root, v.id); });
            if (auto ids = state::Store(ctx.globals.root).list(); ids) {
                for (const auto& id : *ids) {
                    if (!sandbox::is_vm_container(ctx.globals.root, id))
                        continue;
                    if (auto v = sandbox::vm_state(ctx.globals.root, id); v)
                        views.push_back(std::move(*v));
                }
                std::sort(views.begin(), views.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
            }
            if (flags->quiet) {
                for (const auto& v : views)
                    std::printf("%s\n", v.id.c_str());
                return 0;
            }
            if (flags->format == "json") {
                if (views.empty()) {
                    std::printf("null\n");
                    return 0;
                }
                nlohmann::ordered_json arr = nlohmann::ordered_json::array();
                for (const auto& v : views) {
                    auto j = state_to_json(v);
                    j["owner"] = v.owner;
                    arr.push_back(std::move(j));
                }
                std::printf("%s\n", arr.dump().c_str());
                return 0;
            }
            std::vector<std::vector<std::string>> rows = { { "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER" } };
            for (const auto& v : views)
                rows.push_back({ v.id, std::to_string(v.pid), std::string(state::status_name(v.status)), v.bundle,
                                 v.created, v.owner });
            std::fputs(table(rows).c_str(), stdout);
            return 0;
        };
    });
}

} // namespace husk::cli
