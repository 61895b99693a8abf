import Detection
import Testing

@Suite("Ignored paths")
struct ChangedPathsTests {
    @Test("single patterns", arguments: [
        ("docs/**", "docs/guide/intro.md", true), ("docs/**", "docs", false), ("docs/**", "src/docs/a", false),
        ("*.md", "README.md", true), ("*.md", "docs/deep/CHANGELOG.md", true), ("*.md", "src/main.go", false),
        ("/*.md", "docs/a.md", false), ("/*.md", "a.md", true), ("docs/", "docs/a/b.txt", true),
        ("**/test/**", "pkg/test/x_test.go", true), ("**/test/**", "test/a", true), ("src/*.js", "src/a/b.js", false),
        ("src/*.js", "src/app.js", true), ("img?.png", "img1.png", true), ("img?.png", "img10.png", false),
        ("a/**/b.txt", "a/b.txt", true), ("a/**/b.txt", "a/x/y/b.txt", true), ("*", "anything/at/all", true),
        (".github/workflows/*", ".github/workflows/ci.yml", true), ("*.test.*", "src/x.test.ts", true),
    ])
    func pattern(_ pattern: String, _ path: String, _ expected: Bool) {
        #expect(ChangedPaths.matches(path, pattern: pattern) == expected)
    }

    @Test("all changed paths must be ignored")
    func allIgnored() {
        let patterns = ["docs/**", "*.md"]
        #expect(ChangedPaths.allIgnored(changed: ["README.md", "docs/setup/install.txt"], patterns: patterns))
        #expect(!ChangedPaths.allIgnored(changed: ["README.md", "src/app.ts"], patterns: patterns))
        #expect(!ChangedPaths.allIgnored(changed: [], patterns: patterns))
        #expect(!ChangedPaths.allIgnored(changed: ["README.md"], patterns: []))
    }
}
