/// A `/preview` command written in a pull request comment.
///
/// Every line of a comment that starts with `/preview` (after optional indentation) is one command,
/// as in Prow. Lines inside fenced code blocks, block quotes and HTML comments are ignored, so quoting
/// someone's command or documenting the syntax never triggers anything.
public enum PreviewCommand: Hashable, Sendable {
    /// Approve the next step that waits for approval.
    case next
    /// Run all remaining steps without stopping for approval.
    case run
    /// Retry the step that failed or timed out.
    case retry
    /// Tear the preview environment down.
    case destroy
    /// Report the state of the session.
    case status
    /// Reply with `helpText`; also what a bare `/preview` means.
    case help
    /// Keep the preview alive longer; nil asks for the default extension.
    case extend(Duration?)
    /// A `/preview` line previewd cannot understand (the text after `/preview`, shortened).
    ///
    /// The caller replies with `helpText`.
    case unknown(String)

    /// The most commands one comment can issue; the rest of a longer comment is ignored.
    public static let maximumCommandsPerComment = 10

    /// The longest text kept in `.unknown`, so a hostile line is never echoed back whole.
    public static let maximumUnknownTextLength = 64

    /// Extracts the commands of a comment in order, dropping consecutive duplicates.
    public static func parse(commentBody: String) -> [PreviewCommand] {
        var commands: [PreviewCommand] = []
        var fence: Fence?
        var inHTMLComment = false
        // `Character.isNewline` treats "\r\n" as one separator and also splits on a lone "\r".
        for rawLine in commentBody.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let indented = rawLine.drop(while: \.isWhitespace)
            if let open = fence {
                if open.isClosed(by: indented) { fence = nil }
                continue
            }
            let visible = Self.removingHTMLComments(from: rawLine, inComment: &inHTMLComment)
            let line = visible.drop(while: \.isWhitespace)
            if let opening = Fence(opening: line) {
                fence = opening
                continue
            }
            if line.first == ">" { continue }
            guard let command = parseLine(line) else { continue }
            if commands.last != command { commands.append(command) }
            if commands.count == maximumCommandsPerComment { break }
        }
        return commands
    }

    /// Parses one line whose leading whitespace is already removed; nil when it is not a command.
    static func parseLine(_ line: Substring) -> PreviewCommand? {
        let prefix = "/preview"
        guard line.prefix(prefix.count).lowercased() == prefix else { return nil }
        let rest = line.dropFirst(prefix.count)
        // `/previewfoo` is another word, not a command.
        if let first = rest.first, !first.isWhitespace { return nil }
        let words = rest.split(whereSeparator: \.isWhitespace)
        guard let keyword = words.first?.lowercased() else { return .help }
        let arguments = words.dropFirst()
        let command: PreviewCommand? =
            switch keyword {
            case "help": .help
            case "next" where arguments.isEmpty: .next
            case "run" where arguments.isEmpty: .run
            case "retry" where arguments.isEmpty: .retry
            case "destroy" where arguments.isEmpty: .destroy
            case "status" where arguments.isEmpty: .status
            case "extend" where arguments.isEmpty: .extend(nil)
            case "extend" where arguments.count == 1: parseDuration(arguments.first!).map { .extend($0) }
            default: nil
            }
        return command ?? .unknown(shortened(words.joined(separator: " ")))
    }

    /// Parses `30m`, `2h` or `1d` (a positive whole number and one unit); nil for anything else.
    static func parseDuration(_ text: Substring) -> Duration? {
        guard let unit = text.last?.lowercased() else { return nil }
        let digits = text.dropLast()
        // Six digits keep the product far from overflow and are more than any policy would allow.
        guard (1...6).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isWholeNumber }),
            let value = Int64(digits), value > 0
        else { return nil }
        switch unit {
        case "m": return .seconds(value * 60)
        case "h": return .seconds(value * 3_600)
        case "d": return .seconds(value * 86_400)
        default: return nil
        }
    }

    /// Writes a duration the way `parseDuration` reads it, in the largest exact unit.
    static func format(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        if seconds % 86_400 == 0 { return "\(seconds / 86_400)d" }
        if seconds % 3_600 == 0 { return "\(seconds / 3_600)h" }
        return "\(seconds / 60)m"
    }

    static func shortened(_ text: String) -> String {
        text.count > maximumUnknownTextLength ? String(text.prefix(maximumUnknownTextLength)) + "…" : text
    }

    /// The text of `line` outside `<!-- ... -->`, tracking comments that span lines.
    static func removingHTMLComments(from line: Substring, inComment: inout Bool) -> Substring {
        guard inComment || line.contains("<!--") else { return line }
        var visible = ""
        var remaining = line
        while !remaining.isEmpty {
            if inComment {
                guard let end = remaining.range(of: "-->") else { return Substring(visible) }
                remaining = remaining[end.upperBound...]
                inComment = false
            } else {
                guard let start = remaining.range(of: "<!--") else {
                    visible += remaining
                    break
                }
                visible += remaining[..<start.lowerBound]
                remaining = remaining[start.upperBound...]
                inComment = true
            }
        }
        return Substring(visible)
    }

    /// An open fenced code block: its character (backtick or tilde) and length.
    struct Fence {
        var character: Character
        var length: Int

        /// Recognises an opening fence: three or more backticks or tildes.
        init?(opening line: Substring) {
            guard let first = line.first, first == "`" || first == "~" else { return nil }
            let run = line.prefix(while: { $0 == first }).count
            guard run >= 3 else { return nil }
            // A backtick in the info string means this is inline code (```x```), not a fence.
            if first == "`" && line.dropFirst(run).contains("`") { return nil }
            character = first
            length = run
        }

        /// Whether `line` (indentation removed) closes this fence.
        func isClosed(by line: Substring) -> Bool {
            let run = line.prefix(while: { $0 == character }).count
            return run >= length && line.dropFirst(run).allSatisfy(\.isWhitespace)
        }
    }

    /// The reply previewd posts for `/preview help` and for commands it does not understand.
    public static let helpText = """
        | Command | What it does |
        | --- | --- |
        | `/preview next` | Approve the next step that waits for approval (detect, allocate, configure, boot). |
        | `/preview run` | Run all remaining steps without stopping for approval. |
        | `/preview retry` | Retry the step that failed or timed out. |
        | `/preview status` | Show the state of every step and the preview URL. |
        | `/preview extend` | Keep the preview alive longer; add a duration such as `30m`, `2h` or `1d`. |
        | `/preview destroy` | Tear the preview environment down and free its resources. |
        | `/preview help` | Show this table. |

        Write each command at the start of its own line. Commands inside code blocks, quotes and HTML \
        comments are ignored.
        """
}

extension PreviewCommand: CustomStringConvertible {
    /// The command as a user would type it, such as `/preview extend 2h`.
    public var description: String {
        switch self {
        case .next: "/preview next"
        case .run: "/preview run"
        case .retry: "/preview retry"
        case .destroy: "/preview destroy"
        case .status: "/preview status"
        case .help: "/preview help"
        case .extend(nil): "/preview extend"
        case .extend(let duration?): "/preview extend \(Self.format(duration))"
        case .unknown(let text): "/preview \(text)"
        }
    }
}
