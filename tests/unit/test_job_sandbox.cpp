#include <doctest/doctest.h>

#include "daemon/job/job_sandbox.hpp"

#include <string>

using namespace sa;

TEST_SUITE("job_sandbox") {
    TEST_CASE("run's limit flags: values and the messages that name the flag") {
        CgroupLimits l;
        CHECK(parse_limit("job-memory-max", "512M", l));
        CHECK(l.memory_max == 512LL << 20);
        CHECK(parse_limit("job-pids-max", "64", l));
        CHECK(l.pids_max == 64);
        CHECK(parse_limit("job-cpu-max", "1.5", l));
        CHECK(l.cpu_max == doctest::Approx(1.5));

        auto mem = parse_limit("job-memory-max", "lots", l);
        REQUIRE_FALSE(mem);
        CHECK(mem.message() == "job-memory-max: 'lots' is not a size like 512M or 2G");
        for (const char* bad : {"", "0", "-3", "12x"}) {
            auto pids = parse_limit("job-pids-max", bad, l);
            REQUIRE_FALSE(pids);
            CHECK(pids.message() == std::string("job-pids-max: '") + bad + "' is not a positive number");
        }
        for (const char* bad : {"", "0", "one"}) {
            auto cpu = parse_limit("job-cpu-max", bad, l);
            REQUIRE_FALSE(cpu);
            CHECK(cpu.message() == std::string("job-cpu-max: '") + bad + "' is not a number of CPUs like 1.5");
        }
        CHECK_FALSE(parse_limit("job-disk-max", "1G", l));
    }

    TEST_CASE("one reading of limit values for run's flags and start's config") {
        long long bytes = -1;
        CHECK(parse_size("max", bytes));
        CHECK(bytes == 0);
        CHECK(parse_size("1.5K", bytes));
        CHECK(bytes == 1536);
        CHECK_FALSE(parse_size("12x", bytes));
        REQUIRE(parse_cpus("0.5"));
        CHECK(*parse_cpus("0.5") == doctest::Approx(0.5));
        for (const char* bad : {"", "0", "-1", "1.5x", "nan"}) CHECK_FALSE(parse_cpus(bad));
        CHECK(parse_task_count("64") == 64);
        for (const char* bad : {"", "0", "-3", "12x"}) CHECK_FALSE(parse_task_count(bad));
    }

    TEST_CASE("without cgroups a job runs, and says why it has none; with limits it does not") {
        SandboxSettings s;
        s.cgroup_parent = "none";
        s.job_user = "builder";
        s.isolation = "strict";
        auto sb = JobSandbox::create(s, "semaphore-job-test");
        REQUIRE(sb);
        CHECK_FALSE(sb->has_cgroup());
        CHECK(sb->cgroup_dirs().empty());
        CHECK(sb->problem() == "cgroups are turned off (job-cgroup-parent: none)");
        RunOptions o;
        o.cgroup_procs = {"stale"};
        o.cgroup_dir = "stale";
        sb->fill(o);
        CHECK(o.job_user == "builder");
        CHECK(o.isolation == "strict");
        CHECK(o.cgroup_procs.empty());
        CHECK(o.cgroup_dir.empty());
        CHECK(sb->remove_cgroup());

        s.limits.pids_max = 10;
        auto limited = JobSandbox::create(s, "semaphore-job-test");
        REQUIRE_FALSE(limited);
        CHECK(limited.message() ==
              "the job limits (job-pids-max) cannot be applied: cgroups are turned off (job-cgroup-parent: none)");
    }
}
