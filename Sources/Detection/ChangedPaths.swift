/// Matches changed paths against the `ignore` patterns of `.github/preview.yml`.
///
/// Patterns follow .gitignore conventions: `*` matches within one path segment, `?` one character
/// other than `/`, `**` any number of whole segments (`docs/**`, `**/test/**`), a pattern without `/`
/// (`*.md`) matches the file name at any depth, a leading `/` anchors to the repository root and a
/// trailing `/` means everything below that directory.
public enum ChangedPaths {
    /// Whether every changed path matches some pattern; `false` when either list is empty (no evidence to skip a run).
    public static func allIgnored(changed: [String], patterns: [String]) -> Bool {
        guard !changed.isEmpty, !patterns.isEmpty else { return false }
        let compiled = patterns.map(Pattern.init)
        return changed.allSatisfy { path in compiled.contains { $0.matches(path) } }
    }

    /// Whether `path` matches the single `pattern`.
    public static func matches(_ path: String, pattern: String) -> Bool {
        Pattern(pattern).matches(path)
    }

    struct Pattern {
        var segments: [Substring]

        init(_ pattern: String) {
            var text = Substring(pattern)
            if text.hasSuffix("/") { text = text.dropLast() + "/**" }
            if text.hasPrefix("/") {
                text = text.dropFirst()
            } else if !text.contains("/") {
                text = "**/" + text
            }
            segments = text.split(separator: "/", omittingEmptySubsequences: true)
        }

        func matches(_ path: String) -> Bool {
            let parts = path.split(separator: "/", omittingEmptySubsequences: true)
            var memo: [Int: Bool] = [:]
            return match(0, parts[...], &memo)
        }

        private func match(_ index: Int, _ parts: ArraySlice<Substring>, _ memo: inout [Int: Bool]) -> Bool {
            let key = index * 10_000 + parts.startIndex
            if let known = memo[key] { return known }
            let result: Bool
            if index == segments.count {
                result = parts.isEmpty
            } else if segments[index] == "**", index == segments.count - 1 {
                // A trailing `**` means everything inside, not the directory itself.
                result = !parts.isEmpty
            } else if segments[index] == "**" {
                // Zero segments, or one more and try again.
                result = match(index + 1, parts, &memo) || (!parts.isEmpty && match(index, parts.dropFirst(), &memo))
            } else if let first = parts.first {
                result = Self.segmentMatches(Array(segments[index]), Array(first)) && match(index + 1, parts.dropFirst(), &memo)
            } else {
                result = false
            }
            memo[key] = result
            return result
        }

        /// `*` and `?` within one segment; iterative with backtracking to the last `*`.
        static func segmentMatches(_ pattern: [Character], _ name: [Character]) -> Bool {
            var p = 0, n = 0, star = -1, resume = 0
            while n < name.count {
                if p < pattern.count, pattern[p] == "?" || (pattern[p] != "*" && pattern[p] == name[n]) {
                    p += 1
                    n += 1
                } else if p < pattern.count, pattern[p] == "*" {
                    star = p
                    resume = n
                    p += 1
                } else if star >= 0 {
                    p = star + 1
                    resume += 1
                    n = resume
                } else {
                    return false
                }
            }
            while p < pattern.count, pattern[p] == "*" { p += 1 }
            return p == pattern.count
        }
    }
}
