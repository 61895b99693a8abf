import Foundation
/// Durations written the way operators write them: `90`, `90s`, `30m`, `6h`, `2d`.
public enum DurationText {
    /// Parses a positive whole number with an optional unit (`s`, `m`, `h`, `d`; no unit means seconds);
    /// `nil` for anything else, including zero, negative numbers, fractions and unknown units.
    public static func parse(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard let last = trimmed.last else { return nil }
        let multiplier: Int64
        var digits = Substring(trimmed)
        switch last {
        case "s": multiplier = 1; digits = digits.dropLast()
        case "m": multiplier = 60; digits = digits.dropLast()
        case "h": multiplier = 3_600; digits = digits.dropLast()
        case "d": multiplier = 86_400; digits = digits.dropLast()
        default: multiplier = 1
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
              let value = Int64(digits), value > 0, value <= Int64.max / multiplier / 1_000 else { return nil }
        return .seconds(value * multiplier)
    }

    /// The shortest exact spelling: `3d`, `6h`, `30m`, `90s`.
    public static func format(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        if seconds > 0 && seconds % 86_400 == 0 { return "\(seconds / 86_400)d" }
        if seconds > 0 && seconds % 3_600 == 0 { return "\(seconds / 3_600)h" }
        if seconds > 0 && seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
