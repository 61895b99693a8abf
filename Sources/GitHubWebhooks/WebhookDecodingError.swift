import Foundation

/// Why a webhook body could not be decoded; the message names the event and the failing key path.
///
/// Messages never include payload values, only key names and expected types.
public enum WebhookDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The delivery had no body.
    case emptyBody(event: String)
    /// The body is `application/x-www-form-urlencoded`; the webhook must send JSON.
    case formEncoded(event: String)
    /// The body is not valid JSON.
    case malformedJSON(event: String, detail: String)
    /// A required key is absent.
    case missingKey(event: String, keyPath: String)
    /// A required key is `null`.
    case nullValue(event: String, keyPath: String, expectedType: String)
    /// A key holds a value of the wrong JSON type.
    case typeMismatch(event: String, keyPath: String, expectedType: String)
    /// A key holds a value of the right type that cannot be used (an invalid URL or timestamp).
    case invalidValue(event: String, keyPath: String, detail: String)

    /// The `X-GitHub-Event` name of the delivery.
    public var event: String {
        switch self {
        case .emptyBody(let event), .formEncoded(let event), .malformedJSON(let event, _),
            .missingKey(let event, _), .nullValue(let event, _, _), .typeMismatch(let event, _, _),
            .invalidValue(let event, _, _):
            event
        }
    }

    /// The dotted path of the failing key (`pull_request.head.repo.id`, `commits[0].id`), when known.
    public var keyPath: String? {
        switch self {
        case .emptyBody, .formEncoded, .malformedJSON: nil
        case .missingKey(_, let keyPath), .nullValue(_, let keyPath, _), .typeMismatch(_, let keyPath, _),
            .invalidValue(_, let keyPath, _):
            keyPath
        }
    }

    public var description: String {
        switch self {
        case .emptyBody(let event):
            "GitHub '\(event)' webhook has an empty body; redeliver it from the App's Advanced settings."
        case .formEncoded(let event):
            "GitHub '\(event)' webhook body is form-encoded; set the webhook content type to application/json."
        case .malformedJSON(let event, let detail):
            "GitHub '\(event)' webhook body is not valid JSON (\(detail))."
        case .missingKey(let event, let keyPath):
            "GitHub '\(event)' webhook payload lacks the required key '\(keyPath)'."
        case .nullValue(let event, let keyPath, let expectedType):
            "GitHub '\(event)' webhook payload has null at '\(keyPath)' where \(expectedType) is required."
        case .typeMismatch(let event, let keyPath, let expectedType):
            "GitHub '\(event)' webhook payload has the wrong type at '\(keyPath)': expected \(expectedType)."
        case .invalidValue(let event, let keyPath, let detail):
            "GitHub '\(event)' webhook payload has an invalid value at '\(keyPath)': \(detail)"
        }
    }

    init(event: String, decodingError: DecodingError) {
        switch decodingError {
        case .keyNotFound(let key, let context):
            self = .missingKey(event: event, keyPath: Self.render(context.codingPath + [key]))
        case .valueNotFound(let type, let context):
            self = .nullValue(event: event, keyPath: Self.render(context.codingPath), expectedType: Self.describe(type))
        case .typeMismatch(let type, let context):
            self = .typeMismatch(event: event, keyPath: Self.render(context.codingPath), expectedType: Self.describe(type))
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            self = .malformedJSON(event: event, detail: context.debugDescription)
        case .dataCorrupted(let context):
            self = .invalidValue(event: event, keyPath: Self.render(context.codingPath), detail: context.debugDescription)
        @unknown default:
            self = .malformedJSON(event: event, detail: String(describing: decodingError))
        }
    }

    /// Renders a coding path the way the JSON spells it: `commits[0].author.name`.
    static func render(_ path: [any CodingKey]) -> String {
        var result = ""
        for key in path {
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return result.isEmpty ? "(top level)" : result
    }

    /// Names a Swift type in JSON terms so the message makes sense to someone reading the payload.
    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Int.Type, is Int64.Type, is Int32.Type, is Double.Type: "a number"
        case is [Any].Type: "an array"
        case is [String: Any].Type: "an object"
        default: "\(type)"
        }
    }
}
