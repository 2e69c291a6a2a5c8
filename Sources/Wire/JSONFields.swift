// Typed access to the members of a JSON object, with errors that name the field.

/// Reads typed fields from a JSON object; every failure is `invalid_message` naming the field.
struct JSONFields {
    let members: [String: JSONValue]
    let context: String

    init(_ value: JSONValue, context: String) throws(WireError) {
        guard case .object(let members) = value else { throw WireError(.invalidMessage, "\(context) must be an object") }
        self.members = members
        self.context = context
    }

    func missing(_ key: String) -> WireError {
        WireError(.invalidMessage, "\(context): missing field \"\(key)\"")
    }

    func invalid(_ key: String, _ expected: String) -> WireError {
        WireError(.invalidMessage, "\(context): field \"\(key)\" must be \(expected)")
    }

    func has(_ key: String) -> Bool {
        if case .some(.null) = members[key] { return false }
        return members[key] != nil
    }

    func string(_ key: String, byteCountMax: Int = 256) throws(WireError) -> String {
        guard let value = members[key] else { throw missing(key) }
        guard case .string(let text) = value, text.utf8.count <= byteCountMax else {
            throw invalid(key, "a string of at most \(byteCountMax) bytes")
        }
        return text
    }

    func optionalString(_ key: String, byteCountMax: Int = 256) throws(WireError) -> String? {
        has(key) ? try string(key, byteCountMax: byteCountMax) : nil
    }

    func int(_ key: String, in range: ClosedRange<Int64> = Int64.min...Int64.max) throws(WireError) -> Int64 {
        guard let value = members[key] else { throw missing(key) }
        guard case .int(let number) = value, range.contains(number) else {
            throw invalid(key, "an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    /// A nanosecond instant: an integer within ±2^61 (73 years), so differences of two never overflow.
    func instant(_ key: String) throws(WireError) -> Int64 {
        try int(key, in: -Wire.instantMagnitudeMax...Wire.instantMagnitudeMax)
    }

    func optionalInstant(_ key: String) throws(WireError) -> Int64? {
        has(key) ? try instant(key) : nil
    }

    func optionalInt(_ key: String, in range: ClosedRange<Int64> = Int64.min...Int64.max) throws(WireError) -> Int64? {
        has(key) ? try int(key, in: range) : nil
    }

    func double(_ key: String, in range: ClosedRange<Double>) throws(WireError) -> Double {
        guard let value = members[key] else { throw missing(key) }
        let number: Double
        switch value {
        case .int(let integer): number = Double(integer)
        case .double(let real): number = real
        default: throw invalid(key, "a number")
        }
        guard range.contains(number) else { throw invalid(key, "a number in \(range.lowerBound)...\(range.upperBound)") }
        return number
    }

    func optionalDouble(_ key: String, in range: ClosedRange<Double>) throws(WireError) -> Double? {
        has(key) ? try double(key, in: range) : nil
    }

    func bool(_ key: String) throws(WireError) -> Bool {
        guard let value = members[key] else { throw missing(key) }
        guard case .bool(let flag) = value else { throw invalid(key, "true or false") }
        return flag
    }

    func optionalBool(_ key: String) throws(WireError) -> Bool? {
        has(key) ? try bool(key) : nil
    }

    func array(_ key: String, countMax: Int) throws(WireError) -> [JSONValue] {
        guard let value = members[key] else { throw missing(key) }
        guard case .array(let items) = value, items.count <= countMax else {
            throw invalid(key, "an array of at most \(countMax) items")
        }
        return items
    }

    func object(_ key: String) throws(WireError) -> JSONFields {
        guard let value = members[key] else { throw missing(key) }
        return try JSONFields(value, context: "\(context).\(key)")
    }
}

extension JSONValue {
    /// Wraps an optional as JSON, `null` when absent.
    static func from<T>(_ value: T?, _ wrap: (T) -> JSONValue) -> JSONValue {
        value.map(wrap) ?? .null
    }
}

/// Namespace for protocol-wide constants.
public enum Wire {
    /// The largest magnitude of any nanosecond instant on the wire (2^61 ns ≈ 73 years): differences of
    /// two instants, as the sync arithmetic takes them, stay inside Int64.
    public static let instantMagnitudeMax: Int64 = 1 << 61
}
