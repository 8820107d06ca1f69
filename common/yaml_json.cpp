#include "yaml_json.hpp"

#include <yaml.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

namespace sa {

namespace {

constexpr size_t kMaxDepth = 64;

struct Parser {
    yaml_parser_t p;
    Parser() { yaml_parser_initialize(&p); }
    ~Parser() { yaml_parser_delete(&p); }
    Parser(const Parser&) = delete;
};

struct Event {
    yaml_event_t e{};
    bool live = false;
    ~Event() {
        if (live) yaml_event_delete(&e);
    }
};

std::string where(const yaml_mark_t& m) {
    return "line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1);
}

json_t* scalar_value(const yaml_event_t& e) {
    const char* v = reinterpret_cast<const char*>(e.data.scalar.value);
    size_t n = e.data.scalar.length;
    std::string s(v, n);
    if (e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (s == "true" || s == "True" || s == "TRUE") return json_true();
        if (s == "false" || s == "False" || s == "FALSE") return json_false();
        if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return json_null();
        size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
        bool digits = i < s.size();
        for (size_t k = i; k < s.size(); k++) digits = digits && s[k] >= '0' && s[k] <= '9';
        // Leading zeros stay strings: "0644" is a file mode, not 644.
        if (digits && !(s.size() - i > 1 && s[i] == '0')) {
            errno = 0;
            long long x = std::strtoll(s.c_str(), nullptr, 10);
            if (errno == 0) return json_integer(x);
        }
    }
    return json_stringn(v, n);
}

struct Frame {
    JsonPtr value;     // object or array being filled
    std::string key;   // pending key (objects)
    bool have_key = false;
};

}  // namespace

Result<JsonPtr> yaml_to_json(std::string_view text) {
    Parser parser;
    yaml_parser_set_input_string(&parser.p, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    std::vector<Frame> stack;
    JsonPtr root;
    bool have_root = false;
    int documents = 0;
    for (;;) {
        Event ev;
        if (!yaml_parser_parse(&parser.p, &ev.e)) {
            std::string msg = parser.p.problem ? parser.p.problem : "invalid YAML";
            return err("YAML " + where(parser.p.problem_mark) + ": " + msg);
        }
        ev.live = true;
        yaml_event_type_t t = ev.e.type;
        if (t == YAML_STREAM_END_EVENT) break;
        if (t == YAML_DOCUMENT_START_EVENT) {
            if (++documents > 1) return err("YAML " + where(ev.e.start_mark) + ": only one document is allowed");
            continue;
        }
        if (t == YAML_STREAM_START_EVENT || t == YAML_DOCUMENT_END_EVENT) continue;
        if (t == YAML_ALIAS_EVENT ||
            (t == YAML_SCALAR_EVENT && ev.e.data.scalar.anchor) ||
            (t == YAML_MAPPING_START_EVENT && ev.e.data.mapping_start.anchor) ||
            (t == YAML_SEQUENCE_START_EVENT && ev.e.data.sequence_start.anchor))
            return err("YAML " + where(ev.e.start_mark) + ": anchors and aliases are not supported");

        JsonPtr value;
        if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT) {
            if (stack.size() >= kMaxDepth)
                return err("YAML " + where(ev.e.start_mark) + ": nested deeper than 64 levels");
            stack.push_back(Frame{JsonPtr(t == YAML_MAPPING_START_EVENT ? json_object() : json_array()), {}, false});
            continue;
        }
        if (t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT) {
            value = std::move(stack.back().value);
            stack.pop_back();
        } else if (t == YAML_SCALAR_EVENT) {
            Frame* top = stack.empty() ? nullptr : &stack.back();
            if (top && json_is_object(top->value.get()) && !top->have_key) {
                top->key.assign(reinterpret_cast<const char*>(ev.e.data.scalar.value),
                                ev.e.data.scalar.length);
                top->have_key = true;
                continue;
            }
            value.reset(scalar_value(ev.e));
        } else {
            continue;
        }
        // Attach the finished value to its parent, or make it the root.
        if (stack.empty()) {
            root = std::move(value);
            have_root = true;
            continue;
        }
        Frame& parent = stack.back();
        if (json_is_object(parent.value.get())) {
            if (!parent.have_key) return err("YAML " + where(ev.e.start_mark) + ": a mapping key must be a plain value");
            json_object_set_new(parent.value.get(), parent.key.c_str(), value.release());
            parent.have_key = false;
        } else {
            json_array_append_new(parent.value.get(), value.release());
        }
    }
    if (!have_root) return JsonPtr(json_null());
    return root;
}

}  // namespace sa
