/// The `output` object of a check run, kept within GitHub's documented limits.
public struct CheckRunOutput: Sendable, Equatable, Codable {
    /// GitHub's limit for `summary` and `text`, in characters.
    public static let maximumLength = 65_535

    public var title: String
    public var summary: String
    public var text: String?

    /// An output whose fields are used as given; `send` rejects them if they break the limits.
    public init(title: String, summary: String, text: String? = nil) {
        self.title = title
        self.summary = summary
        self.text = text
    }

    /// Builds an output whose `text` holds the newest `logLines` that fit, in a code block.
    ///
    /// When lines must go, the oldest go first and the text starts with a line saying how many lines and
    /// characters were cut. A summary over the limit keeps its beginning. Lengths are counted in UTF-16 code
    /// units, which is never less than the character count GitHub checks, so the result is always accepted.
    public static func build(title: String, summary: String, logLines: [String]) -> CheckRunOutput {
        let text = logLines.isEmpty ? nil : tail(of: logLines, limit: maximumLength)
        return CheckRunOutput(title: title, summary: truncatingEnd(summary, limit: maximumLength), text: text)
    }

    /// Whether `summary` and `text` fit GitHub's limits.
    public var fitsLimits: Bool {
        Self.length(summary) <= Self.maximumLength && Self.length(text ?? "") <= Self.maximumLength
    }

    /// The conservative length used for every limit here.
    static func length(_ string: some StringProtocol) -> Int { string.utf16.count }

    private static let fenceOpen = "````text\n"
    private static let fenceClose = "\n````"

    static func tail(of lines: [String], limit: Int) -> String {
        let fixed = length(fenceOpen) + length(fenceClose)
        let total = lines.reduce(0) { $0 + length($1) } + max(lines.count - 1, 0)
        if total + fixed <= limit {
            return fenceOpen + lines.joined(separator: "\n") + fenceClose
        }
        // Room for the "cut" notice: its numbers can never be longer than these.
        let noticeReserve = length(notice(lines: lines.count, characters: total)) + 1
        let budget = limit - fixed - noticeReserve
        var kept: [Substring] = []
        var used = 0
        for line in lines.reversed() {
            let cost = length(line) + (kept.isEmpty ? 0 : 1)
            if used + cost <= budget {
                kept.append(line[...])
                used += cost
                continue
            }
            if kept.isEmpty {
                // A single line longer than the budget: keep its end, which is where errors usually are.
                kept.append(suffix(line, fitting: budget))
                used = length(kept[0])
            }
            break
        }
        kept.reverse()
        let keptCharacters = kept.reduce(0) { $0 + length($1) } + max(kept.count - 1, 0)
        let notice = notice(lines: lines.count - kept.count, characters: total - keptCharacters)
        return fenceOpen + notice + "\n" + kept.joined(separator: "\n") + fenceClose
    }

    static func notice(lines: Int, characters: Int) -> String {
        "… \(lines) earlier line\(lines == 1 ? "" : "s") (\(characters) characters) cut …"
    }

    private static func suffix(_ line: String, fitting budget: Int) -> Substring {
        var start = line.endIndex
        var used = 0
        while start > line.startIndex {
            let previous = line.index(before: start)
            let cost = length(line[previous..<start])
            if used + cost > budget { break }
            used += cost
            start = previous
        }
        return line[start...]
    }

    static func truncatingEnd(_ text: String, limit: Int) -> String {
        guard length(text) > limit else { return text }
        let marker = "\n\n… (\(length(text)) characters, cut to fit GitHub's limit)"
        let budget = limit - length(marker)
        var end = text.startIndex
        var used = 0
        while end < text.endIndex {
            let next = text.index(after: end)
            let cost = length(text[end..<next])
            if used + cost > budget { break }
            used += cost
            end = next
        }
        return String(text[..<end]) + marker
    }
}

/// A button on a check run (`actions[]`), validated against GitHub's limits when created.
public struct CheckRunAction: Sendable, Equatable, Codable {
    /// At most this many actions per check run.
    public static let maximumCount = 3
    public static let maximumLabelLength = 20
    public static let maximumIdentifierLength = 20
    public static let maximumDescriptionLength = 40

    public let label: String
    public let description: String
    public let identifier: String

    /// Creates an action; throws if a field is empty or longer than GitHub allows.
    public init(label: String, description: String, identifier: String) throws(CheckRunActionError) {
        try Self.check("label", label, Self.maximumLabelLength)
        try Self.check("description", description, Self.maximumDescriptionLength)
        try Self.check("identifier", identifier, Self.maximumIdentifierLength)
        self.label = label
        self.description = description
        self.identifier = identifier
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            label: container.decode(String.self, forKey: .label),
            description: container.decode(String.self, forKey: .description),
            identifier: container.decode(String.self, forKey: .identifier))
    }

    private enum CodingKeys: String, CodingKey { case label, description, identifier }

    private static func check(_ field: String, _ value: String, _ maximum: Int) throws(CheckRunActionError) {
        guard !value.isEmpty else { throw .empty(field: field) }
        // GitHub counts characters; UTF-16 units are never fewer, so this is the safe side.
        let length = value.utf16.count
        guard length <= maximum else { throw .tooLong(field: field, length: length, maximum: maximum) }
    }
}

/// Why a check-run action was refused before sending.
public enum CheckRunActionError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty(field: String)
    case tooLong(field: String, length: Int, maximum: Int)
    case tooMany(count: Int, maximum: Int)

    public var description: String {
        switch self {
        case .empty(let field): "check-run action \(field) must not be empty"
        case .tooLong(let field, let length, let maximum): "check-run action \(field) is \(length) characters long; GitHub allows at most \(maximum)"
        case .tooMany(let count, let maximum): "a check run may have at most \(maximum) actions, got \(count)"
        }
    }
}
