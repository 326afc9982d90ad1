// doctest's main for every test binary. Files the tests write (configurations holding test tokens
// among them) are private to the user, as notion-syncd expects of a file with a literal token.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <sys/stat.h>

int main(int argc, char** argv) {
    umask(077);
    return doctest::Context(argc, argv).run();
}
