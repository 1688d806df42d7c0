/// One change a ``FileWatcher`` reports.
public struct FileEvent: Sendable, Hashable, CustomStringConvertible {
    /// What happened to the path.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The path came into existence (created, or moved in from outside the watch).
        case create
        /// The file's content changed, or it was replaced by a file renamed over it.
        case modify
        /// The entry was renamed inside the watch: `oldPath` is where it was.
        case move
        /// The path no longer exists (deleted, or moved out of the watch).
        case delete
        /// Metadata changed: permissions, owner, timestamps, extended attributes.
        case attrib
        /// The kernel's event queue overflowed and events were lost; `path` is the watch's root.
        /// A `.rescan` of the tree follows.
        case overflow
        /// After an overflow: this path exists now, whatever happened to it meanwhile.
        case rescan

        /// The kinds a watch may ask for; `.overflow` and `.rescan` are always delivered.
        public static let watchable: Set<Kind> = [.create, .modify, .move, .delete, .attrib]
    }

    /// What happened.
    public var kind: Kind
    /// The absolute path it happened to (for `.move`, the new path).
    public var path: String
    /// Whether the path is a folder.
    public var isDirectory: Bool
    /// For `.move`, the path the entry had before; for a `.modify` caused by renaming another
    /// file over this one, that file's former path; nil otherwise.
    public var oldPath: String?
    /// The index of the ``WatchSpec`` the event is for, in the order given to the watcher.
    public var specIndex: Int

    public init(kind: Kind, path: String, isDirectory: Bool = false, oldPath: String? = nil, specIndex: Int = 0) {
        self.kind = kind
        self.path = path
        self.isDirectory = isDirectory
        self.oldPath = oldPath
        self.specIndex = specIndex
    }

    public var description: String {
        var text = "\(kind.rawValue) \(path)"
        if isDirectory { text += "/" }
        if let oldPath { text += " (from \(oldPath))" }
        return text + " [\(specIndex)]"
    }
}

/// What one `fms.watch` asks for: a file or folder, an optional name pattern, the kinds of
/// change, whether sub-folders count, and how long to gather changes before reporting.
public struct WatchSpec: Sendable, Hashable {
    /// The file or folder to watch; made absolute (against the current folder) and normalized
    /// ("." and empty components and trailing slashes removed; symbolic links are kept).
    /// It need not exist yet.
    public var path: String
    /// A shell pattern (`fnmatch`) the entry's name must match, e.g. `"*.log"`; nil matches all.
    /// It applies to entries below the watched path, not to the path itself.
    public var glob: String?
    /// The kinds of change to report.
    public var kinds: Set<FileEvent.Kind>
    /// Whether changes in sub-folders (at any depth) count, not only direct entries.
    public var recursive: Bool
    /// Changes to one path within this many seconds of each other are combined into one event
    /// (see ``EventCoalescer``); 0 reports every change at once.
    public var debounce: Double

    public init(path: String, glob: String? = nil, kinds: Set<FileEvent.Kind> = FileEvent.Kind.watchable,
                recursive: Bool = false, debounce: Double = 0) {
        self.path = WatchSpec.normalize(path)
        self.glob = glob
        self.kinds = kinds
        self.recursive = recursive
        self.debounce = debounce.isFinite ? max(0, debounce) : 0
    }

    /// `path` made absolute and normalized.
    static func normalize(_ path: String) -> String {
        var full = path
        if !full.hasPrefix("/") { full = (system_getcwd() ?? "/") + "/" + full }
        var parts: [Substring] = []
        for part in full.split(separator: "/", omittingEmptySubsequences: true) where part != "." {
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }
}

/// Path arithmetic on absolute, normalized paths.
enum WatchPath {
    /// `name` inside the folder `directory`.
    static func join(_ directory: String, _ name: String) -> String {
        directory == "/" ? "/" + name : directory + "/" + name
    }

    /// The folder holding `path` ("/" for "/" itself).
    static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    /// The last component of `path`.
    static func name(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Whether `path` is strictly inside the folder `ancestor`.
    static func isInside(_ path: String, _ ancestor: String) -> Bool {
        let inner = path.utf8, outer = ancestor.utf8
        if ancestor == "/" { return inner.count > 1 && inner.first == slash }
        guard inner.count > outer.count + 1, inner.starts(with: outer) else { return false }
        return inner[inner.index(inner.startIndex, offsetBy: outer.count)] == slash
    }

    /// `path` (`old` itself or inside it) with the leading `old` replaced by `new`.
    static func rebase(_ path: String, from old: String, to new: String) -> String {
        if path == old { return new }
        let skip = old == "/" ? 1 : old.utf8.count + 1
        return join(new, String(Substring(path.utf8.dropFirst(skip))))
    }

    private static let slash = UInt8(ascii: "/")
}
