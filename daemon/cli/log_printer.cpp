#include "daemon/cli/log_printer.hpp"

#include "common/job_result.hpp"
#include "common/json.hpp"

namespace sa {

namespace {
const char* kBold = "\x1b[1m";
const char* kGreen = "\x1b[32m";
const char* kRed = "\x1b[31m";
const char* kYellow = "\x1b[33m";
const char* kDim = "\x1b[2m";
const char* kReset = "\x1b[0m";
}  // namespace

void LogPrinter::event(std::string_view line) {
    json_error_t e;
    JsonPtr j(json_loadb(line.data(), line.size(), 0, &e));
    if (!j) return;
    auto str = [&](const char* k) {
        const char* s = json_string_value(json_object_get(j.get(), k));
        return std::string(s ? s : "");
    };
    auto num = [&](const char* k) { return json_integer_value(json_object_get(j.get(), k)); };
    std::string kind = str("event");
    if (kind == "cmd_output") {
        std::string o = str("output");
        std::fwrite(o.data(), 1, o.size(), out_);
        if (!o.empty()) at_line_start_ = o.back() == '\n';
    } else {
        if (!at_line_start_) std::fputc('\n', out_);
        at_line_start_ = true;
        if (kind == "job_started") {
            std::fprintf(out_, "%sJob started%s\n", c(kDim), c(kReset));
        } else if (kind == "cmd_started") {
            std::fprintf(out_, "%s==> %s%s\n", c(kBold), str("directive").c_str(), c(kReset));
        } else if (kind == "cmd_finished") {
            long long code = num("exit_code");
            long long secs = num("finished_at") - num("started_at");
            std::fprintf(out_, "%s<== exit code %lld (%llds)%s\n", c(code ? kRed : kDim), code,
                         secs, c(kReset));
        } else if (kind == "job_finished") {
            std::string r = str("result");
            auto result = parse_job_result(r);
            const char* col = result == JobResult::Passed    ? kGreen
                              : result == JobResult::Stopped ? kYellow
                                                             : kRed;
            std::fprintf(out_, "%s%sJob %s%s\n", c(kBold), c(col), r.c_str(), c(kReset));
        }
    }
    // No flush here: `run` flushes once per batch of events (issue 20).
}

}  // namespace sa
