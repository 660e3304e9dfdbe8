// The device rule emulator and the BPF program generator (see device_filter.hpp).
//
// Program layout, for each access bit in turn (mknod, read, write):
//
//     if the request does not ask for the bit: go to the next bit
//     for each rule naming the bit, last rule first:
//         if it matches type, major and minor: allow rule -> next bit, deny rule -> deny
//     deny (no rule named the bit)
//   after the last bit: allow
//
// A rule matching every device ends its bit's chain: rules before it are never reached.
#include "cgroups/device_filter.hpp"

#include <array>
#include <string>

namespace husk::cgroups {

namespace {

constexpr std::array<uint32_t, 3> access_bits { AccMknod, AccRead, AccWrite };

Result<uint32_t> access_of(const DeviceRule& rule)
{
    uint32_t bits = 0;
    for (char c : rule.access) {
        switch (c) {
        case 'm': bits |= AccMknod; break;
        case 'r': bits |= AccRead; break;
        case 'w': bits |= AccWrite; break;
        default:
            return fail("device rule \"" + device_rule_line(rule) + "\": invalid access \"" + rule.access + "\"");
        }
    }
    return bits;
}

bool type_matches(char type, DevType dev)
{
    return type == 'a' || (type == 'c' && dev == DevChar) || (type == 'b' && dev == DevBlock);
}

// Type 'a' stands for every device, whatever numbers it carries (as on v1).
bool matches_all(const DeviceRule& rule) { return rule.type == 'a'; }

// A tiny assembler: instructions with symbolic jump targets, resolved at the end.
class Asm {
public:
    using Label = size_t;

    Label label()
    {
        m_labels.push_back(SIZE_MAX);
        return m_labels.size() - 1;
    }
    void bind(Label l) { m_labels[l] = m_code.size(); }
    bool used(Label l) const
    {
        for (const auto& f : m_fixups)
            if (f.second == l)
                return true;
        return false;
    }

    void emit(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
    {
        bpf_insn insn {};
        insn.code = code;
        insn.dst_reg = dst & 0xf;
        insn.src_reg = src & 0xf;
        insn.off = off;
        insn.imm = imm;
        m_code.push_back(insn);
    }
    // Conditional or unconditional jump to a label.
    void jump(uint8_t code, uint8_t dst, int32_t imm, Label to)
    {
        m_fixups.emplace_back(m_code.size(), to);
        emit(code, dst, 0, 0, imm);
    }

    Result<std::vector<bpf_insn>> finish()
    {
        for (auto [at, label] : m_fixups) {
            long off = static_cast<long>(m_labels[label]) - static_cast<long>(at) - 1;
            if (m_labels[label] == SIZE_MAX || off < INT16_MIN || off > INT16_MAX)
                return fail("device rules: too many rules for one program");
            m_code[at].off = static_cast<int16_t>(off);
        }
        return std::move(m_code);
    }

private:
    std::vector<bpf_insn> m_code;
    std::vector<size_t> m_labels;
    std::vector<std::pair<size_t, Label>> m_fixups;
};

// Registers: r1 context; r2 access_type; r3 device type; r4 access bits; r5 major; r6 minor;
// r7 scratch. Numbers are compared as 64-bit values loaded from u32 fields, so the
// immediate must be a non-negative int32.
constexpr uint8_t R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5, R6 = 6, R7 = 7;

} // namespace

bool allowed(const std::vector<DeviceRule>& rules, DevType type, uint32_t major, uint32_t minor, uint32_t access)
{
    for (uint32_t bit : access_bits) {
        if (!(access & bit))
            continue;
        bool decided = false;
        for (auto it = rules.rbegin(); it != rules.rend() && !decided; ++it) {
            auto bits = access_of(*it);
            if (!bits || !(*bits & bit) || !type_matches(it->type, type))
                continue;
            if (it->type != 'a' && ((it->major >= 0 && uint64_t(it->major) != major) ||
                                    (it->minor >= 0 && uint64_t(it->minor) != minor)))
                continue;
            if (!it->allow)
                return false;
            decided = true;
        }
        if (!decided)
            return false;
    }
    return true;
}

Result<std::vector<bpf_insn>> device_program(const std::vector<DeviceRule>& rules)
{
    for (const auto& r : rules) {
        TRY(access_of(r));
        if (r.type != 'a' && r.type != 'b' && r.type != 'c')
            return fail("device rule \"" + device_rule_line(r) + "\": invalid type '" + std::string(1, r.type) + "'");
        if (r.major > INT32_MAX || r.minor > INT32_MAX)
            return fail("device rule \"" + device_rule_line(r) + "\": device number out of range");
    }
    Asm a;
    Asm::Label deny = a.label();
    // r2 = ctx->access_type; r3 = r2 & 0xffff; r4 = r2 >> 16; r5 = ctx->major; r6 = ctx->minor
    a.emit(BPF_LDX | BPF_MEM | BPF_W, R2, R1, 0, 0);
    a.emit(BPF_ALU64 | BPF_MOV | BPF_X, R3, R2, 0, 0);
    a.emit(BPF_ALU64 | BPF_AND | BPF_K, R3, 0, 0, 0xffff);
    a.emit(BPF_ALU64 | BPF_MOV | BPF_X, R4, R2, 0, 0);
    a.emit(BPF_ALU64 | BPF_RSH | BPF_K, R4, 0, 0, 16);
    a.emit(BPF_LDX | BPF_MEM | BPF_W, R5, R1, 4, 0);
    a.emit(BPF_LDX | BPF_MEM | BPF_W, R6, R1, 8, 0);
    for (uint32_t bit : access_bits) {
        Asm::Label next_bit = a.label();
        bool covered = false;
        a.emit(BPF_ALU64 | BPF_MOV | BPF_X, R7, R4, 0, 0);
        a.emit(BPF_ALU64 | BPF_AND | BPF_K, R7, 0, 0, static_cast<int32_t>(bit));
        a.jump(BPF_JMP | BPF_JEQ | BPF_K, R7, 0, next_bit);
        for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
            if (!(*access_of(*it) & bit))
                continue;
            Asm::Label next_rule = a.label();
            if (it->type != 'a') {
                a.jump(BPF_JMP | BPF_JNE | BPF_K, R3, it->type == 'c' ? DevChar : DevBlock, next_rule);
                if (it->major >= 0)
                    a.jump(BPF_JMP | BPF_JNE | BPF_K, R5, static_cast<int32_t>(it->major), next_rule);
                if (it->minor >= 0)
                    a.jump(BPF_JMP | BPF_JNE | BPF_K, R6, static_cast<int32_t>(it->minor), next_rule);
            }
            a.jump(BPF_JMP | BPF_JA, 0, 0, it->allow ? next_bit : deny);
            a.bind(next_rule);
            if (matches_all(*it)) {
                covered = true;
                break;
            }
        }
        // The verifier refuses unreachable instructions: no fall-through after a rule that
        // matches everything.
        if (!covered)
            a.jump(BPF_JMP | BPF_JA, 0, 0, deny);
        a.bind(next_bit);
    }
    a.emit(BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, 1);
    a.emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    if (a.used(deny)) {
        a.bind(deny);
        a.emit(BPF_ALU64 | BPF_MOV | BPF_K, R0, 0, 0, 0);
        a.emit(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    }
    return a.finish();
}

} // namespace husk::cgroups
