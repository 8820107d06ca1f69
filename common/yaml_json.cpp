#include "common/yaml_json.hpp"

#include <yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace sa {

namespace {

// Job files and config files are shallow; the cap keeps hostile input from
// building huge structures one bracket at a time.
constexpr size_t kMaxDepth = 64;

struct Parser {
    yaml_parser_t p;
    Parser() { yaml_parser_initialize(&p); }
    ~Parser() { yaml_parser_delete(&p); }
    Parser(const Parser&) = delete;
    Parser& operator=(const Parser&) = delete;
};

// One parsed event; libyaml allocates its strings, so it must be deleted.
struct Event {
    yaml_event_t e{};
    bool live = false;
    Event() = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
    ~Event() {
        if (live) yaml_event_delete(&e);
    }
};

std::string where(const yaml_mark_t& m) {
    return "line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1);
}

Error at(const yaml_mark_t& m, const std::string& problem) {
    return err("YAML " + where(m) + ": " + problem);
}

// libyaml's own message, with its position (reader errors only know a byte offset).
Error parser_error(const yaml_parser_t& p) {
    std::string problem = p.problem ? p.problem : "invalid YAML";
    if (p.error == YAML_READER_ERROR)
        return err("YAML at byte " + std::to_string(p.problem_offset) + ": " + problem);
    std::string msg = "YAML " + where(p.problem_mark) + ": " + problem;
    if (p.context) msg += " (" + std::string(p.context) + " at " + where(p.context_mark) + ")";
    return err(msg);
}

std::string scalar_text(const yaml_event_t& e) {
    return std::string(reinterpret_cast<const char*>(e.data.scalar.value), e.data.scalar.length);
}

bool is_tag(const yaml_event_t& e, const char* tag) {
    return e.data.scalar.tag && std::strcmp(reinterpret_cast<const char*>(e.data.scalar.tag), tag) == 0;
}

// Plain scalars without a tag get a type; so do explicit !!bool, !!int, !!null.
// Quoted scalars, !!str and unknown tags stay strings.
bool resolves_type(const yaml_event_t& e) {
    if (e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && e.data.scalar.plain_implicit) return true;
    return is_tag(e, YAML_BOOL_TAG) || is_tag(e, YAML_INT_TAG) || is_tag(e, YAML_NULL_TAG);
}

// Decimal only. Leading zeros stay strings: "0644" is a file mode, not 644.
bool parse_decimal(const std::string& s, long long& out) {
    size_t i = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    if (i == s.size()) return false;
    for (size_t k = i; k < s.size(); k++)
        if (s[k] < '0' || s[k] > '9') return false;
    if (s.size() - i > 1 && s[i] == '0') return false;
    errno = 0;
    out = std::strtoll(s.c_str(), nullptr, 10);
    return errno == 0;  // out of range stays a string
}

json_t* typed_scalar(const std::string& s) {
    if (s == "true" || s == "True" || s == "TRUE") return json_true();
    if (s == "false" || s == "False" || s == "FALSE") return json_false();
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return json_null();
    long long n;
    if (parse_decimal(s, n)) return json_integer(n);
    return nullptr;
}

Result<JsonPtr> scalar_value(const yaml_event_t& e) {
    std::string s = scalar_text(e);
    if (resolves_type(e))
        if (json_t* v = typed_scalar(s)) return JsonPtr(v);
    JsonPtr v(json_stringn(s.data(), s.size()));
    if (!v) return at(e.start_mark, "a scalar is not valid UTF-8");
    return v;
}

bool has_anchor(const yaml_event_t& e) {
    switch (e.type) {
    case YAML_ALIAS_EVENT: return true;
    case YAML_SCALAR_EVENT: return e.data.scalar.anchor != nullptr;
    case YAML_MAPPING_START_EVENT: return e.data.mapping_start.anchor != nullptr;
    case YAML_SEQUENCE_START_EVENT: return e.data.sequence_start.anchor != nullptr;
    default: return false;
    }
}

// An object or array under construction; objects remember the key whose
// value comes next.
struct Frame {
    JsonPtr value;
    std::string key;
    bool have_key = false;
    bool is_object() const { return json_is_object(value.get()); }
    bool wants_key() const { return is_object() && !have_key; }
};

// Builds the JSON tree from the event stream with an explicit stack, so the
// depth of the input never becomes depth of the C++ call stack.
class Builder {
public:
    Status on_event(const yaml_event_t& e) {
        if (has_anchor(e)) return at(e.start_mark, "anchors and aliases are not supported");
        switch (e.type) {
        case YAML_DOCUMENT_START_EVENT:
            if (++documents_ > 1) return at(e.start_mark, "only one document is allowed");
            return Ok{};
        case YAML_MAPPING_START_EVENT: return open(e, JsonPtr(json_object()));
        case YAML_SEQUENCE_START_EVENT: return open(e, JsonPtr(json_array()));
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT: return close(e);
        case YAML_SCALAR_EVENT: return scalar(e);
        default: return Ok{};  // stream start/end, document end
        }
    }

    JsonPtr take_root() { return root_ ? std::move(root_) : JsonPtr(json_null()); }

private:
    Status open(const yaml_event_t& e, JsonPtr value) {
        if (!stack_.empty() && stack_.back().wants_key())
            return at(e.start_mark, "a mapping key must be a scalar");
        if (stack_.size() >= kMaxDepth)
            return at(e.start_mark, "nested deeper than " + std::to_string(kMaxDepth) + " levels");
        stack_.push_back(Frame{std::move(value), {}, false});
        return Ok{};
    }

    Status close(const yaml_event_t& e) {
        JsonPtr value = std::move(stack_.back().value);
        stack_.pop_back();
        return attach(e, std::move(value));
    }

    Status scalar(const yaml_event_t& e) {
        if (!stack_.empty() && stack_.back().wants_key()) return key(e);
        auto v = scalar_value(e);
        if (!v) return v.error();
        return attach(e, std::move(v.value()));
    }

    // Keys are taken as text whatever their style; duplicates would silently
    // lose a setting, so they are refused.
    Status key(const yaml_event_t& e) {
        Frame& top = stack_.back();
        std::string k = scalar_text(e);
        if (k.find('\0') != std::string::npos) return at(e.start_mark, "a mapping key contains a NUL byte");
        if (json_object_get(top.value.get(), k.c_str()))
            return at(e.start_mark, "duplicate key '" + k + "'");
        top.key = std::move(k);
        top.have_key = true;
        return Ok{};
    }

    Status attach(const yaml_event_t& e, JsonPtr value) {
        if (stack_.empty()) {
            root_ = std::move(value);
            return Ok{};
        }
        Frame& parent = stack_.back();
        int rc = parent.is_object()
                     ? json_object_set_new(parent.value.get(), parent.key.c_str(), value.release())
                     : json_array_append_new(parent.value.get(), value.release());
        parent.have_key = false;
        if (rc != 0) return at(e.start_mark, "out of memory");
        return Ok{};
    }

    std::vector<Frame> stack_;
    JsonPtr root_;
    int documents_ = 0;
};

}  // namespace

Result<JsonPtr> yaml_to_json(std::string_view text) {
    Parser parser;
    yaml_parser_set_input_string(&parser.p, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    Builder builder;
    for (;;) {
        Event ev;
        if (!yaml_parser_parse(&parser.p, &ev.e)) return parser_error(parser.p);
        ev.live = true;
        if (ev.e.type == YAML_STREAM_END_EVENT) break;
        if (auto st = builder.on_event(ev.e); !st) return st.error();
    }
    return builder.take_root();
}

}  // namespace sa
