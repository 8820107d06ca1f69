#include <doctest/doctest.h>

#include "daemon/selfhosted/ec2_metadata.hpp"

#include <map>
#include <string>

using namespace sa;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
    return [vars](const std::string& k) -> std::optional<std::string> {
        auto it = vars.find(k);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

FileReader files_of(std::map<std::string, std::string> files) {
    return [files](const std::string& p) -> std::optional<std::string> {
        auto it = files.find(p);
        if (it == files.end()) return std::nullopt;
        return it->second;
    };
}

Ec2WatchMode mode(const std::string& text) {
    auto m = parse_ec2_watch_mode(text);
    REQUIRE(m);
    return *m;
}

// The value of an optional that may be a temporary.
template <class T>
long long value_of(T r) {
    REQUIRE(r);
    return *r;
}

const FileReader kNotEc2 = files_of({{"/sys/class/dmi/id/sys_vendor", "QEMU\n"}});
const FileReader kEc2 = files_of({{"/sys/class/dmi/id/sys_vendor", "Amazon EC2\n"}});

}  // namespace

TEST_SUITE("ec2") {

TEST_CASE("the setting's words") {
    CHECK(mode("auto") == Ec2WatchMode::Auto);
    CHECK(mode("AUTO") == Ec2WatchMode::Auto);
    CHECK(mode("true") == Ec2WatchMode::On);
    CHECK(mode("yes") == Ec2WatchMode::On);
    CHECK(mode("false") == Ec2WatchMode::Off);
    CHECK(mode("0") == Ec2WatchMode::Off);
    auto bad = parse_ec2_watch_mode("maybe");
    REQUIRE(!bad);
    CHECK(bad.message() == "ec2-lifecycle-watch: 'maybe' is not one of true, false, auto");
}

TEST_CASE("EC2 recognised by DMI or the Xen uuid, and nothing else") {
    CHECK(host_looks_like_ec2(kEc2));
    CHECK(host_looks_like_ec2(files_of({{"/sys/class/dmi/id/board_vendor", "Amazon EC2"}})));
    CHECK(host_looks_like_ec2(files_of({{"/sys/hypervisor/uuid", "ec2e1916-9099-7caf-fd21-012345abcdef\n"}})));
    CHECK(!host_looks_like_ec2(kNotEc2));
    CHECK(!host_looks_like_ec2(files_of({})));
    CHECK(!host_looks_like_ec2(files_of({{"/sys/hypervisor/uuid", "4a3b2c1d-0000-0000-0000-000000000000"}})));
}

TEST_CASE("auto never probes a host that is not EC2 without an endpoint variable") {
    auto p = plan_ec2_watch(Ec2WatchMode::Auto, env_of({}), kNotEc2);
    CHECK(p.start == Ec2WatchStart::Off);
    CHECK(p.base_url.empty());
    CHECK(p.why.find("does not look like EC2") != std::string::npos);
    // An empty variable is unset.
    CHECK(plan_ec2_watch(Ec2WatchMode::Auto, env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", " "}}), kNotEc2).start ==
          Ec2WatchStart::Off);
}

TEST_CASE("auto probes on EC2 (default endpoint) or an explicit endpoint") {
    auto p = plan_ec2_watch(Ec2WatchMode::Auto, env_of({}), kEc2);
    CHECK(p.start == Ec2WatchStart::Probe);
    CHECK(p.base_url == "http://169.254.169.254");
    auto q = plan_ec2_watch(Ec2WatchMode::Auto,
                            env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/"}}), kNotEc2);
    CHECK(q.start == Ec2WatchStart::Probe);
    CHECK(q.base_url == "http://127.0.0.1:9");
}

TEST_CASE("true watches; false and AWS_EC2_METADATA_DISABLED=true never do") {
    CHECK(plan_ec2_watch(Ec2WatchMode::On, env_of({}), kNotEc2).start == Ec2WatchStart::On);
    CHECK(plan_ec2_watch(Ec2WatchMode::Off, env_of({}), kEc2).start == Ec2WatchStart::Off);
    for (const char* v : {"true", "TRUE", "True"}) {
        auto p = plan_ec2_watch(Ec2WatchMode::On,
                                env_of({{"AWS_EC2_METADATA_DISABLED", v},
                                        {"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9"}}),
                                kEc2);
        CHECK(p.start == Ec2WatchStart::Off);
        CHECK(p.why == "AWS_EC2_METADATA_DISABLED is true");
    }
    CHECK(plan_ec2_watch(Ec2WatchMode::On, env_of({{"AWS_EC2_METADATA_DISABLED", "false"}}), kEc2).start ==
          Ec2WatchStart::On);
}

TEST_CASE("RFC 3339 times") {
    CHECK(value_of(parse_rfc3339_utc("2026-11-30T03:00:00Z")) == 1796007600);
    CHECK(value_of(parse_rfc3339_utc("2026-11-30T03:00:00.123Z")) == 1796007600);
    CHECK(value_of(parse_rfc3339_utc("2026-11-30T03:00:00+00:00")) == 1796007600);
    CHECK(!parse_rfc3339_utc("2026-11-30T03:00:00+02:00"));
    CHECK(!parse_rfc3339_utc("tomorrow"));
    CHECK(!parse_rfc3339_utc(""));
}

TEST_CASE("spot instance-action") {
    auto n = parse_spot_instance_action(R"({"action": "stop", "time": "2026-11-30T03:00:00Z"})", 0);
    REQUIRE(n);
    CHECK(n->source == InterruptionSource::Spot);
    CHECK(n->action == "stop");
    CHECK(n->deadline == 1796007600);
    // An unreadable time is still a notice, with AWS's two minutes.
    auto m = parse_spot_instance_action(R"({"action": "terminate", "time": "soon"})", 1000);
    REQUIRE(m);
    CHECK(m->deadline == 1120);
    CHECK(!parse_spot_instance_action("not json", 0));
    CHECK(!parse_spot_instance_action("[]", 0));
}

TEST_CASE("target lifecycle states") {
    CHECK(classify_lifecycle_state("InService", false) == LifecycleMeaning::InService);
    CHECK(classify_lifecycle_state("Pending:Wait", false) == LifecycleMeaning::InService);
    for (bool was : {false, true})
        for (const char* s : {"Terminated", "Terminating", "Terminating:Wait", "Detached", "Detaching"})
            CHECK(classify_lifecycle_state(s, was) == LifecycleMeaning::LeavingService);
    // Launched into a warm pool: not leaving service it never entered.
    CHECK(classify_lifecycle_state("Warmed:Stopped", false) == LifecycleMeaning::NotInService);
    CHECK(classify_lifecycle_state("Warmed:Stopped", true) == LifecycleMeaning::LeavingService);
    CHECK(classify_lifecycle_state("Warmed:Hibernated", true) == LifecycleMeaning::LeavingService);
    CHECK(classify_lifecycle_state("Standby", true) == LifecycleMeaning::NotInService);
    CHECK(classify_lifecycle_state("Rebooting", true) == LifecycleMeaning::Unknown);
    CHECK(std::string(interruption_source_name(InterruptionSource::ScaleIn)) == "scale-in");
}

}  // TEST_SUITE
