// The device rule emulator, and the generated eBPF program run through a small interpreter
// of the instructions it uses: for every rule set here, program and emulator must agree on
// a grid of devices and access masks.
#include "cgroups/device_filter.hpp"

#include <doctest.h>

#include <string>

using namespace husk::cgroups;

namespace {

// Runs `code` on a bpf_cgroup_dev_ctx. Only the instruction forms device_program() emits
// are understood; anything else fails the test. Checks the jump targets stay in the program.
int run(const std::vector<bpf_insn>& code, uint32_t access_type, uint32_t major, uint32_t minor)
{
    uint32_t ctx[3] = { access_type, major, minor };
    uint64_t reg[11] = {};
    size_t pc = 0;
    for (int steps = 0; steps < 100000; ++steps) {
        REQUIRE(pc < code.size());
        const bpf_insn& i = code[pc++];
        uint64_t& dst = reg[i.dst_reg];
        uint64_t imm = static_cast<uint64_t>(static_cast<int64_t>(i.imm));
        switch (i.code) {
        case BPF_LDX | BPF_MEM | BPF_W:
            REQUIRE(i.src_reg == 1);
            REQUIRE(i.imm == 0);
            REQUIRE((i.off == 0 || i.off == 4 || i.off == 8));
            dst = ctx[i.off / 4];
            break;
        case BPF_ALU64 | BPF_MOV | BPF_X: dst = reg[i.src_reg]; break;
        case BPF_ALU64 | BPF_MOV | BPF_K: dst = imm; break;
        case BPF_ALU64 | BPF_AND | BPF_K: dst &= imm; break;
        case BPF_ALU64 | BPF_RSH | BPF_K: dst >>= i.imm; break;
        case BPF_JMP | BPF_JEQ | BPF_K:
            if (dst == imm)
                pc += i.off;
            break;
        case BPF_JMP | BPF_JNE | BPF_K:
            if (dst != imm)
                pc += i.off;
            break;
        case BPF_JMP | BPF_JA: pc += i.off; break;
        case BPF_JMP | BPF_EXIT: return static_cast<int>(reg[0]);
        default: FAIL("unexpected instruction code " << int(i.code)); return -1;
        }
    }
    FAIL("program did not finish");
    return -1;
}

// Every instruction is reachable (the verifier refuses programs with dead code).
void check_reachable(const std::vector<bpf_insn>& code)
{
    std::vector<bool> seen(code.size());
    std::vector<size_t> todo { 0 };
    while (!todo.empty()) {
        size_t pc = todo.back();
        todo.pop_back();
        if (pc >= code.size() || seen[pc])
            continue;
        seen[pc] = true;
        const bpf_insn& i = code[pc];
        if (i.code == (BPF_JMP | BPF_EXIT))
            continue;
        if (i.code == (BPF_JMP | BPF_JA)) {
            todo.push_back(pc + 1 + i.off);
            continue;
        }
        if (BPF_CLASS(i.code) == BPF_JMP)
            todo.push_back(pc + 1 + i.off);
        todo.push_back(pc + 1);
    }
    for (size_t pc = 0; pc < code.size(); ++pc)
        CHECK_MESSAGE(seen[pc], "instruction " << pc << " is unreachable");
}

void check_agrees(const std::vector<DeviceRule>& rules)
{
    auto code = device_program(rules);
    REQUIRE(code);
    check_reachable(*code);
    const uint32_t numbers[] = { 0, 1, 3, 5, 7, 8, 136, 200, 254 };
    for (DevType type : { DevChar, DevBlock })
        for (uint32_t major : numbers)
            for (uint32_t minor : numbers)
                for (uint32_t access = 1; access <= 7; ++access) {
                    bool want = allowed(rules, type, major, minor, access);
                    int got = run(*code, type | (access << 16), major, minor);
                    CHECK_MESSAGE(got == (want ? 1 : 0), "type " << type << " " << major << ":" << minor
                                                                 << " access " << access);
                }
}

DeviceRule allow(char type, int64_t major, int64_t minor, std::string access = "rwm")
{
    return DeviceRule { true, type, major, minor, std::move(access) };
}
DeviceRule deny(char type, int64_t major, int64_t minor, std::string access = "rwm")
{
    return DeviceRule { false, type, major, minor, std::move(access) };
}

} // namespace

TEST_CASE("device rules: nothing is allowed without a rule")
{
    CHECK_FALSE(allowed({}, DevChar, 1, 3, AccRead));
    CHECK_FALSE(allowed({}, DevBlock, 8, 0, AccMknod));
    check_agrees({});
}

TEST_CASE("device rules: each access bit is decided on its own")
{
    std::vector<DeviceRule> rules { allow('c', 1, 3, "r") };
    CHECK(allowed(rules, DevChar, 1, 3, AccRead));
    CHECK_FALSE(allowed(rules, DevChar, 1, 3, AccRead | AccWrite));
    CHECK_FALSE(allowed(rules, DevChar, 1, 3, AccMknod));
    CHECK_FALSE(allowed(rules, DevBlock, 1, 3, AccRead)); // the type counts
    rules.push_back(allow('c', 1, 3, "w"));
    CHECK(allowed(rules, DevChar, 1, 3, AccRead | AccWrite));
    check_agrees(rules);
}

TEST_CASE("device rules: the last matching rule wins")
{
    std::vector<DeviceRule> rules { allow('a', -1, -1), deny('c', 1, 3, "w") };
    CHECK(allowed(rules, DevChar, 1, 3, AccRead));
    CHECK_FALSE(allowed(rules, DevChar, 1, 3, AccRead | AccWrite));
    CHECK(allowed(rules, DevChar, 1, 5, AccWrite));
    CHECK(allowed(rules, DevBlock, 8, 0, AccRead | AccWrite | AccMknod));
    check_agrees(rules);

    std::vector<DeviceRule> later { deny('c', 1, 3), allow('c', -1, -1, "rw") };
    CHECK(allowed(later, DevChar, 1, 3, AccRead | AccWrite));
    CHECK_FALSE(allowed(later, DevChar, 1, 3, AccMknod));
    check_agrees(later);
}

TEST_CASE("device rules: wildcards in major and minor")
{
    std::vector<DeviceRule> rules { allow('c', 136, -1), allow('b', -1, 0, "r"), allow('c', -1, -1, "m") };
    CHECK(allowed(rules, DevChar, 136, 7, AccRead | AccWrite));
    CHECK_FALSE(allowed(rules, DevChar, 137, 7, AccRead));
    CHECK(allowed(rules, DevChar, 137, 7, AccMknod));
    CHECK(allowed(rules, DevBlock, 8, 0, AccRead));
    CHECK_FALSE(allowed(rules, DevBlock, 8, 1, AccRead));
    CHECK_FALSE(allowed(rules, DevBlock, 8, 0, AccMknod));
    check_agrees(rules);
}

TEST_CASE("device rules: a rule for every device ends the search, allow or deny")
{
    // "a" deny last: nothing gets through, and the allow rules before it are never reached.
    std::vector<DeviceRule> rules { allow('c', 1, 3), deny('a', -1, -1) };
    CHECK_FALSE(allowed(rules, DevChar, 1, 3, AccRead));
    check_agrees(rules);
    // "a" allow for mknod only, and allows after it.
    std::vector<DeviceRule> more { deny('a', -1, -1), allow('a', -1, -1, "m"), allow('c', 1, 3, "rw") };
    CHECK(allowed(more, DevBlock, 8, 0, AccMknod));
    CHECK(allowed(more, DevChar, 1, 3, AccRead | AccWrite | AccMknod));
    CHECK_FALSE(allowed(more, DevChar, 1, 5, AccRead));
    check_agrees(more);
}

TEST_CASE("device rules: the default set of a container")
{
    // What a container gets without device rules of its own: mknod of anything, the
    // standard character devices, pseudo-terminals.
    std::vector<DeviceRule> rules {
        deny('a', -1, -1),       allow('c', -1, -1, "m"), allow('b', -1, -1, "m"), allow('c', 1, 3),
        allow('c', 1, 5),        allow('c', 1, 7),        allow('c', 1, 8),        allow('c', 1, 9),
        allow('c', 5, 0),        allow('c', 5, 1),        allow('c', 5, 2),        allow('c', 136, -1),
        allow('c', 10, 200),
    };
    CHECK(allowed(rules, DevChar, 1, 3, AccRead | AccWrite));
    CHECK(allowed(rules, DevBlock, 8, 0, AccMknod));
    CHECK_FALSE(allowed(rules, DevBlock, 8, 0, AccRead));
    CHECK_FALSE(allowed(rules, DevChar, 1, 1, AccRead)); // /dev/mem
    check_agrees(rules);
}

TEST_CASE("device rules: what no program can express is refused")
{
    CHECK_FALSE(device_program({ allow('c', 1, 3, "rx") }));
    CHECK_FALSE(device_program({ allow('u', 1, 3) }));
    CHECK_FALSE(device_program({ allow('c', int64_t { 1 } << 33, 3) }));
    auto empty_access = device_program({ allow('c', 1, 3, "") });
    REQUIRE(empty_access);
    CHECK(run(*empty_access, DevChar | (AccRead << 16), 1, 3) == 0);
}
