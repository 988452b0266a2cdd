import CCurl

/// A URL parsed by libcurl's URL API (curl_url): the parser the transfers use, so what is read
/// here (the host above all) is what a transfer connects to. Used on one thread at a time.
public final class CurlURL {
    /// The parts callers read or rewrite.
    public enum Part: Sendable {
        case url, scheme, user, password, host, port, zoneID, fragment

        var curlPart: CURLUPart {
            switch self {
            case .url: CURLUPART_URL
            case .scheme: CURLUPART_SCHEME
            case .user: CURLUPART_USER
            case .password: CURLUPART_PASSWORD
            case .host: CURLUPART_HOST
            case .port: CURLUPART_PORT
            case .zoneID: CURLUPART_ZONEID
            case .fragment: CURLUPART_FRAGMENT
            }
        }
    }

    // CURLU_* flags (the (1<<n) macros are not imported into Swift).
    private static let defaultPortFlag: UInt32 = 1 << 0
    private static let nonSupportSchemeFlag: UInt32 = 1 << 3

    private let handle: OpaquePointer

    /// - Parameter allowsUnknownScheme: parse schemes libcurl does not speak too
    ///   (CURLU_NON_SUPPORT_SCHEME), for a caller that judges the scheme itself.
    /// - Throws: `.invalidRequest` with libcurl's reason (curl_url_strerror).
    public init(_ string: String, allowsUnknownScheme: Bool = false) throws(HTTPClientError) {
        guard let handle = curl_url() else { throw HTTPClientError(.invalidRequest, "out of memory") }
        let parsed = curl_url_set(handle, CURLUPART_URL, string, allowsUnknownScheme ? Self.nonSupportSchemeFlag : 0)
        guard parsed == CURLUE_OK else {
            curl_url_cleanup(handle)
            throw HTTPClientError(.invalidRequest, String(cString: curl_url_strerror(parsed)))
        }
        self.handle = handle
    }

    deinit {
        curl_url_cleanup(handle)
    }

    /// One part, nil when absent; with `defaultPort`, the scheme's port when none is written
    /// (CURLU_DEFAULT_PORT).
    public func get(_ part: Part, defaultPort: Bool = false) -> String? {
        var value: UnsafeMutablePointer<CChar>?
        guard curl_url_get(handle, part.curlPart, &value, defaultPort ? Self.defaultPortFlag : 0) == CURLUE_OK, let value else { return nil }
        defer { curl_free(value) }
        return String(cString: value)
    }

    /// Sets one part (nil removes it); false when libcurl refuses the value.
    public func set(_ part: Part, _ value: String?) -> Bool {
        curl_url_set(handle, part.curlPart, value, 0) == CURLUE_OK
    }
}

/// HTTP dates, read as libcurl reads them (curl_getdate).
public enum HTTPDate {
    /// "Wed, 21 Oct 2015 07:28:00 GMT" (or another format curl_getdate reads) as seconds since
    /// 1970; nil when it does not parse.
    public static func secondsSince1970(_ text: String) -> Int? {
        let date = curl_getdate(text, nil)
        return date == -1 ? nil : Int(date)
    }
}
