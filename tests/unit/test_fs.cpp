#include <doctest/doctest.h>

#include "common/fs.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

namespace {

// A private directory per test case, removed at the end.
struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/sa-fs-test-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() { sa::remove_tree(path); }
    std::string operator/(const std::string& name) const { return path + "/" + name; }
};

mode_t mode_of(const std::string& p) {
    struct stat st {};
    REQUIRE(lstat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

std::string content(const std::string& p) {
    auto r = sa::read_file(p);
    REQUIRE(r.ok());
    return r.value();
}

// Sets the umask for one scope.
struct Umask {
    mode_t old;
    explicit Umask(mode_t m) : old(umask(m)) {}
    ~Umask() { umask(old); }
};

}  // namespace

TEST_SUITE("fs") {
    TEST_CASE("read_file: whole file, cut at the limit, or refused past it") {
        TempDir d;
        std::string big(20000, 'x');
        REQUIRE(sa::write_file(d / "f", big));
        CHECK(content(d / "f") == big);
        auto cut = sa::read_file(d / "f", {.max_bytes = 100});
        REQUIRE(cut.ok());
        CHECK(cut.value().size() == 100);
        auto exact = sa::read_file(d / "f", {.max_bytes = 20000, .oversize = sa::Oversize::Fail});
        CHECK(exact.ok());
        auto over = sa::read_file(d / "f", {.max_bytes = 19999, .oversize = sa::Oversize::Fail});
        REQUIRE_FALSE(over.ok());
        CHECK(over.message() == "larger than 19999 bytes");
    }
    TEST_CASE("read_file: kNoReadLimit reads a file past the 1 MiB default whole") {
        TempDir d;
        std::string big((3 << 20) + 12345, 'y');  // 3 MiB and change: several 8 KiB reads past the default
        big[big.size() - 1] = 'z';
        REQUIRE(sa::write_file(d / "f", big));
        auto cut = sa::read_file(d / "f");
        REQUIRE(cut.ok());
        CHECK(cut.value().size() == (1u << 20));
        auto whole = sa::read_file(d / "f", {.max_bytes = sa::kNoReadLimit, .oversize = sa::Oversize::Fail});
        REQUIRE(whole.ok());
        CHECK(whole.value().size() == big.size());
        CHECK(whole.value() == big);
        REQUIRE(sa::write_file(d / "empty", ""));
        auto empty = sa::read_file(d / "empty", {.max_bytes = sa::kNoReadLimit});
        REQUIRE(empty.ok());
        CHECK(empty.value().empty());
    }
    TEST_CASE("read_chunks: every byte of a file past any read size, in order; a missing file says why") {
        TempDir d;
        std::string text;
        for (int i = 0; i < 5000; i++) text += std::to_string(i) + "\n";  // ~24 KiB: several reads
        REQUIRE(sa::write_file(d / "f", text));
        std::string seen;
        size_t calls = 0;
        auto st = sa::read_chunks(d / "f", [&](std::string_view c) {
            seen += c;
            calls++;
        });
        REQUIRE(st.ok());
        CHECK(seen == text);
        CHECK(calls > 1);
        auto missing = sa::read_chunks(d / "nope", [](std::string_view) {});
        REQUIRE_FALSE(missing.ok());
        CHECK(missing.message() == "No such file or directory");
    }
    TEST_CASE("read_file: missing files, directories and refused links say why") {
        TempDir d;
        auto missing = sa::read_file(d / "none");
        REQUIRE_FALSE(missing.ok());
        CHECK(missing.message() == "No such file or directory");
        auto dir = sa::read_file(d.path);
        REQUIRE_FALSE(dir.ok());
        CHECK(dir.message() == "Is a directory");
        REQUIRE(sa::write_file(d / "target", "secret"));
        REQUIRE(symlink((d / "target").c_str(), (d / "link").c_str()) == 0);
        CHECK(content(d / "link") == "secret");
        auto refused = sa::read_file(d / "link", {.no_follow = true});
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.message() == "Too many levels of symbolic links");
    }
    TEST_CASE("write_file: truncate, append, existing") {
        TempDir d;
        REQUIRE(sa::write_file(d / "f", "long first content"));
        REQUIRE(sa::write_file(d / "f", "short"));
        CHECK(content(d / "f") == "short");
        REQUIRE(sa::write_file(d / "f", "+more", {.how = sa::WriteMode::Append}));
        CHECK(content(d / "f") == "short+more");
        // Existing: no create, no truncate (a control file takes a value as written).
        auto none = sa::write_file(d / "absent", "1", {.how = sa::WriteMode::Existing});
        CHECK(none.failed == sa::FileStep::Open);
        CHECK(none.error == ENOENT);
        CHECK(access((d / "absent").c_str(), F_OK) != 0);
        CHECK(none.message(d / "absent") == "cannot open " + (d / "absent") + ": No such file or directory");
        REQUIRE(sa::write_file(d / "f", "S", {.how = sa::WriteMode::Existing}));
        CHECK(content(d / "f") == "Short+more");
    }
    TEST_CASE("write_file: the umask applies to New modes, not to Exact ones") {
        TempDir d;
        Umask u(027);
        REQUIRE(sa::write_file(d / "new", "x", {.mode = 0644}));
        CHECK(mode_of(d / "new") == 0640);
        REQUIRE(sa::write_file(d / "exact", "x", {.mode = 0644, .mode_use = sa::ModeUse::Exact}));
        CHECK(mode_of(d / "exact") == 0644);
        // An existing file keeps its mode under New, takes it under Exact.
        REQUIRE(chmod((d / "new").c_str(), 0666) == 0);
        REQUIRE(sa::write_file(d / "new", "y", {.mode = 0600}));
        CHECK(mode_of(d / "new") == 0666);
        REQUIRE(sa::write_file(d / "new", "y", {.mode = 0600, .mode_use = sa::ModeUse::Exact}));
        CHECK(mode_of(d / "new") == 0600);
    }
    TEST_CASE("write_file: PrivateUntilWritten ends at the mode asked for") {
        TempDir d;
        REQUIRE(sa::write_file(d / "key", "old"));
        REQUIRE(chmod((d / "key").c_str(), 0666) == 0);
        REQUIRE(sa::write_file(d / "key", "secret",
                               {.mode = 0640, .mode_use = sa::ModeUse::PrivateUntilWritten}));
        CHECK(mode_of(d / "key") == 0640);
        CHECK(content(d / "key") == "secret");
    }
    TEST_CASE("write_file: no_follow refuses to write through a link") {
        TempDir d;
        REQUIRE(sa::write_file(d / "victim", "keep"));
        REQUIRE(symlink((d / "victim").c_str(), (d / "link").c_str()) == 0);
        auto st = sa::write_file(d / "link", "planted", {.no_follow = true});
        CHECK(st.failed == sa::FileStep::Open);
        CHECK(st.error == ELOOP);
        CHECK(content(d / "victim") == "keep");
        REQUIRE(sa::write_file(d / "link", "followed"));
        CHECK(content(d / "victim") == "followed");
    }
    TEST_CASE("write_file: the owner is set on the file written") {
        TempDir d;
        uid_t uid = geteuid() == 0 ? 65534 : geteuid();
        gid_t gid = geteuid() == 0 ? 65534 : getegid();
        REQUIRE(sa::write_file(d / "owned", "x", {.uid = uid, .gid = gid}));
        struct stat st {};
        REQUIRE(stat((d / "owned").c_str(), &st) == 0);
        CHECK(st.st_uid == uid);
        CHECK(st.st_gid == gid);
        if (geteuid() != 0) {  // only root gives files away
            auto denied = sa::write_file(d / "other", "x", {.uid = 0, .gid = 0});
            CHECK(denied.failed == sa::FileStep::Owner);
        }
    }
    TEST_CASE("make_dirs: every missing level, an existing one is fine") {
        TempDir d;
        Umask u(022);
        REQUIRE(sa::make_dirs(d / "a/b/c", 0750).ok());
        CHECK(mode_of(d / "a") == 0750);
        CHECK(mode_of(d / "a/b/c") == 0750);
        REQUIRE(sa::make_dirs(d / "a/b/c", 0750).ok());
        REQUIRE(sa::write_file(d / "file", "x"));
        auto blocked = sa::make_dirs(d / "file/sub", 0750);
        REQUIRE_FALSE(blocked.ok());
        CHECK(blocked.message() == "Not a directory");
    }
}
