import Foundation
import HTTPTypes

/// HTML text built only through escaping interpolation: `"<td>\(branch)</td>"` escapes `branch`;
/// markup from another `HTML` value goes in unescaped. Anything that came from GitHub (branch names,
/// commit messages, logs) is therefore text, never markup.
struct HTML: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    private(set) var rendered: String

    init(stringLiteral value: String) { rendered = value }

    init(stringInterpolation: Interpolation) { rendered = stringInterpolation.rendered }

    /// Markup assembled elsewhere that is already safe.
    init(trusted: String) { rendered = trusted }

    var description: String { rendered }

    struct Interpolation: StringInterpolationProtocol {
        var rendered = ""

        init(literalCapacity: Int, interpolationCount: Int) { rendered.reserveCapacity(literalCapacity * 2) }

        mutating func appendLiteral(_ literal: String) { rendered += literal }

        mutating func appendInterpolation(_ html: HTML) { rendered += html.rendered }

        mutating func appendInterpolation(_ html: [HTML]) { for item in html { rendered += item.rendered } }

        mutating func appendInterpolation(_ text: String) { rendered += HTML.escape(text) }

        mutating func appendInterpolation(_ text: String?) { if let text { rendered += HTML.escape(text) } }

        mutating func appendInterpolation(_ number: Int) { rendered += String(number) }

        mutating func appendInterpolation(_ number: Int64) { rendered += String(number) }
    }

    /// Escapes the five characters that matter in text and in quoted attribute values.
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.unicodeScalars.append(character)
            }
        }
        return result
    }
}

extension Array where Element == HTML {
    func joined() -> HTML { HTML(trusted: map(\.rendered).joined()) }
}

/// Headers every dashboard response carries.
enum SecurityHeaders {
    /// No inline script or style: the page's JavaScript and CSS come from `/static`.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; "
        + "frame-ancestors 'none'; base-uri 'none'"

    static func apply(to response: inout HTTPResponse, formAction: String? = nil) {
        var policy = contentSecurityPolicy
        if let formAction { policy = policy.replacingOccurrences(of: "form-action 'self'", with: "form-action 'self' \(formAction)") }
        response.headers["Content-Security-Policy"] = policy
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
    }
}

extension HTTPResponse {
    /// An HTML page with the dashboard's security headers.
    static func page(_ status: Int, _ html: HTML, formAction: String? = nil, headers extra: [(String, String)] = []) -> HTTPResponse {
        var response = HTTPResponse(
            status: status, headers: ["Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"],
            body: .bytes(Data(html.rendered.utf8)))
        SecurityHeaders.apply(to: &response, formAction: formAction)
        for (name, value) in extra { response.headers.add(name: name, value: value) }
        return response
    }

    /// A `303 See Other` to `location` (after a form post).
    static func seeOther(_ location: String, headers extra: [(String, String)] = []) -> HTTPResponse {
        var response = HTTPResponse(status: 303, headers: ["Location": location, "Cache-Control": "no-store"])
        SecurityHeaders.apply(to: &response)
        for (name, value) in extra { response.headers.add(name: name, value: value) }
        return response
    }
}

/// Parses an `application/x-www-form-urlencoded` body.
func formFields(_ body: Data) -> [String: String] {
    var fields: [String: String] = [:]
    for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let decode = { (text: Substring) in
            text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
        }
        guard let name = parts.first else { continue }
        fields[decode(name)] = parts.count > 1 ? decode(parts[1]) : ""
    }
    return fields
}

/// Percent-encodes a query parameter value.
func queryEscape(_ text: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~/")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}

/// "3 s", "4 min 5 s", "2 h 10 min".
func formatDuration(_ seconds: Double?) -> String {
    guard let seconds, seconds.isFinite, seconds >= 0 else { return "–" }
    if seconds < 1 { return String(format: "%.1f s", seconds) }
    let total = Int(seconds.rounded())
    if total < 60 { return "\(total) s" }
    if total < 3600 { return "\(total / 60) min \(total % 60) s" }
    return "\(total / 3600) h \(total % 3600 / 60) min"
}

/// "just now", "5 min ago", "3 h ago", "2 d ago".
func formatAge(_ date: Date, now: Date) -> String {
    let seconds = Int(now.timeIntervalSince(date))
    if seconds < 45 { return "just now" }
    if seconds < 3600 { return "\(max(seconds / 60, 1)) min ago" }
    if seconds < 86_400 { return "\(seconds / 3600) h ago" }
    return "\(seconds / 86_400) d ago"
}

/// An ISO 8601 timestamp (UTC) for `title` attributes and `<time datetime>`.
func isoTimestamp(_ date: Date) -> String { date.formatted(.iso8601) }
