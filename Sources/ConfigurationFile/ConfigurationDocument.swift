/// What a `secretfs.yaml` declares, as written, with where each part was written.
///
/// Names and settings are kept as text here; the CLI turns them into domain values with the
/// same checks as the commands that take them one by one, and points an error at `Location`.
public struct ConfigurationDocument: Sendable, Equatable {
    /// The format version this file is written in (`version: 1`).
    public static let formatVersion = 1

    /// The applications, in file order.
    public var applications: [ApplicationEntry]
    /// The managers, in file order.
    public var managers: [ManagerEntry]
    /// The secrets that are links to values held elsewhere, in file order.
    public var links: [LinkEntry]

    /// Creates a document.
    public init(applications: [ApplicationEntry] = [], managers: [ManagerEntry] = [], links: [LinkEntry] = []) {
        self.applications = applications
        self.managers = managers
        self.links = links
    }
}

/// Where something was written in the file: line and column from 1 (0 for a document not read from a file).
public struct Location: Sendable, Equatable, CustomStringConvertible {
    /// The line, from 1.
    public var line: Int
    /// The column, from 1, in Unicode scalars.
    public var column: Int

    /// Creates a location.
    public init(line: Int = 0, column: Int = 0) {
        self.line = line
        self.column = column
    }

    /// `LINE:COLUMN`.
    public var description: String { "\(line):\(column)" }
}

/// An application and its environments.
public struct ApplicationEntry: Sendable, Equatable {
    /// The application's name.
    public var name: String
    /// Where its name was written.
    public var location: Location
    /// Its environments, in file order.
    public var environments: [EnvironmentEntry]

    /// Creates an entry.
    public init(name: String, location: Location = Location(), environments: [EnvironmentEntry] = []) {
        self.name = name
        self.location = location
        self.environments = environments
    }
}

/// An environment and its type.
public struct EnvironmentEntry: Sendable, Equatable {
    /// The environment's name.
    public var name: String
    /// `production` or `non-production`.
    public var type: String
    /// Where it was written.
    public var location: Location

    /// Creates an entry.
    public init(name: String, type: String, location: Location = Location()) {
        self.name = name
        self.type = type
        self.location = location
    }
}

/// A manager: its type, scopes, selectors, whether it is the default, and its settings.
public struct ManagerEntry: Sendable, Equatable {
    /// The manager's name.
    public var name: String
    /// Where its name was written.
    public var location: Location
    /// Its type, as `manager list` shows it (`builtin`, `aws-kms`, …).
    public var type: String
    /// Usage-scope rules, as `--scope` takes them.
    public var scopes: [String]
    /// Delegate selectors.
    public var selectors: [String]
    /// Whether it is the default manager.
    public var isDefault: Bool
    /// The options of `secretfs manager add TYPE`, without their leading dashes, in file order.
    public var settings: [Setting]

    /// Creates an entry.
    public init(name: String, location: Location = Location(), type: String, scopes: [String] = [], selectors: [String] = [], isDefault: Bool = false, settings: [Setting] = []) {
        self.name = name
        self.location = location
        self.type = type
        self.scopes = scopes
        self.selectors = selectors
        self.isDefault = isDefault
        self.settings = settings
    }
}

/// One manager setting: an option of `manager add` and its value.
public struct Setting: Sendable, Equatable {
    /// The option's name without its dashes (`key-arn`).
    public var key: String
    /// Its value.
    public var value: SettingValue
    /// Where it was written.
    public var location: Location

    /// Creates a setting.
    public init(key: String, value: SettingValue, location: Location = Location()) {
        self.key = key
        self.value = value
        self.location = location
    }
}

/// A setting's value: text for an option that takes one, a flag, or a list for a repeatable option.
public enum SettingValue: Sendable, Equatable {
    /// `key: text` (numbers are text too).
    case text(String)
    /// `key: true` gives the flag; `false` leaves it out.
    case flag(Bool)
    /// `key: [a, b]`: the option once per item.
    case list([String])
}

/// A secret that is a link to a value another store holds (`secretfs secret link`); never a value.
public struct LinkEntry: Sendable, Equatable {
    /// `APP/ENV/NAME`.
    public var path: String
    /// Where it was written.
    public var location: Location
    /// The manager that holds the value.
    public var manager: String
    /// The remote name, as `secret link --remote` takes it.
    public var remote: String
    /// `text` or `file`.
    public var kind: String

    /// Creates an entry.
    public init(path: String, location: Location = Location(), manager: String, remote: String, kind: String = "text") {
        self.path = path
        self.location = location
        self.manager = manager
        self.remote = remote
        self.kind = kind
    }
}

/// A problem in the file, at a line and column.
public struct ConfigurationFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the problem is.
    public var location: Location
    /// What is wrong, one line.
    public var message: String

    /// Creates an error.
    public init(_ message: String, at location: Location) {
        self.location = location
        self.message = message
    }

    /// `LINE:COLUMN: message`.
    public var description: String { "\(location): \(message)" }
}
