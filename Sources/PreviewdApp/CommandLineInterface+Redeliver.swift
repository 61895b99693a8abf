import PreviewdCore
import Recovery

/// Options of `previewd redeliver`.
public struct RedeliverOptions: Equatable, Sendable {
    /// How far back to look (`--since`); at most GitHub's redelivery window of 3 days.
    public var since: Duration
    /// `--dry-run`: list what would be redelivered, request nothing.
    public var dryRun: Bool
    /// `--all`: list every delivery in the table, not only the missed ones.
    public var includeStored: Bool

    public init(since: Duration = RedeliverySweeper.Configuration.gitHubRedeliveryWindow, dryRun: Bool = false, includeStored: Bool = false) {
        self.since = since
        self.dryRun = dryRun
        self.includeStored = includeStored
    }

    /// Parses the arguments after `redeliver`.
    public static func parse(_ arguments: [String]) throws(CommandLineError) -> RedeliverOptions {
        var options = RedeliverOptions()
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            switch argument {
            case "--dry-run", "-n":
                options.dryRun = true
            case "--all":
                options.includeStored = true
            case "--since":
                guard let value = remaining.popFirst() else {
                    throw CommandLineError(description: "--since needs a duration such as 30m, 6h or 2d")
                }
                options.since = try parseSince(value)
            default:
                if argument.hasPrefix("--since=") {
                    options.since = try parseSince(String(argument.dropFirst("--since=".count)))
                } else {
                    throw CommandLineError(
                        description: "unknown option '\(argument)' for 'redeliver'; it takes --since DURATION (such as 6h), --dry-run and --all")
                }
            }
        }
        return options
    }

    /// A look-back such as `30m`, `6h` or `2d`, no longer than GitHub's redelivery window.
    public static func parseSince(_ text: String) throws(CommandLineError) -> Duration {
        let window = RedeliverySweeper.Configuration.gitHubRedeliveryWindow
        let hasUnit = text.last.map { "smhd".contains($0.lowercased()) } ?? false
        guard hasUnit, let duration = DurationText.parse(text) else {
            throw CommandLineError(
                description: "--since '\(text)' is not a duration; write a whole number with a unit: s, m, h or d (such as 30m, 6h or 2d)")
        }
        guard duration <= window else {
            throw CommandLineError(
                description: "--since \(text) reaches back further than GitHub's redelivery window of \(DurationText.format(window)); use \(DurationText.format(window)) or less")
        }
        return duration
    }
}
