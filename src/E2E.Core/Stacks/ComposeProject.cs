using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using E2E.Core.Errors;
using E2E.Core.Kubernetes;

namespace E2E.Core.Stacks;

/// <summary>A published port: HostIp:HostPort -> ContainerPort/Protocol.</summary>
public sealed record PortMapping(string? HostIp, int HostPort, int ContainerPort, string Protocol)
{
    public override string ToString() => $"{(HostIp is null ? string.Empty : HostIp + ":")}{HostPort}:{ContainerPort}/{Protocol}";
}

/// <summary>
/// A mount of a service: a bind of a host path (Source absolute, resolved against the project's folder), a named
/// volume (Source the volume's name in the file), or an anonymous volume (Source null), at Target.
/// </summary>
public sealed record VolumeMount(string Type, string? Source, string Target, bool ReadOnly)
{
    public const string Bind = "bind";
    public const string Volume = "volume";
}

/// <summary>A named volume the file declares: the engine's name for it (its name: field, else &lt;project&gt;_&lt;name&gt;), and whether it is external (used, never created or removed).</summary>
public sealed record NamedVolume(string Name, string EngineName, bool External);

/// <summary>A dependency: the service must have started, be healthy, or have exited with 0 first.</summary>
public sealed record ServiceDependency(string Service, string Condition)
{
    public const string Started = "service_started";
    public const string Healthy = "service_healthy";
    public const string CompletedSuccessfully = "service_completed_successfully";
}

/// <summary>A healthcheck as compose writes it: Test is ["CMD", prog, args...] or ["CMD-SHELL", line]; Disabled for ["NONE"] or disable: true.</summary>
public sealed record ServiceHealthcheck(IReadOnlyList<string> Test, TimeSpan Interval, TimeSpan Timeout, int Retries, TimeSpan StartPeriod, bool Disabled)
{
    /// <summary>The program and arguments to run: CMD as given, CMD-SHELL through /bin/sh -c.</summary>
    public IReadOnlyList<string> Command => Test[0] == "CMD-SHELL" ? new[] { "/bin/sh", "-c", string.Join(' ', Test.Skip(1)) } : Test.Skip(1).ToArray();
}

/// <summary>
/// One service: what compose says (image or build, command, environment, ports, dependencies, healthcheck) and,
/// from the x-e2e extension field, how to run it as a local process instead of a container.
/// </summary>
public sealed record ComposeService(
    string Name,
    string? Image,
    string? BuildContext,
    IReadOnlyList<string>? Command,
    IReadOnlyList<string>? Entrypoint,
    IReadOnlyDictionary<string, string?> Environment,
    IReadOnlyList<PortMapping> Ports,
    IReadOnlyList<ServiceDependency> DependsOn,
    ServiceHealthcheck? Healthcheck,
    string? ContainerName,
    IReadOnlyList<string>? LocalCommand,
    IReadOnlyDictionary<string, string?> LocalEnvironment,
    string? LocalWorkingDirectory,
    ServiceHealthcheck? LocalHealthcheck)
{
    /// <summary>The healthcheck the Process runtime runs: the x-e2e one if given, else the compose one.</summary>
    public ServiceHealthcheck? ProcessHealthcheck => LocalHealthcheck ?? Healthcheck;

    /// <summary>Its mounts (volumes:), in the file's order; the Docker runtime mounts them, the Process runtime has none.</summary>
    public IReadOnlyList<VolumeMount> Volumes { get; init; } = Array.Empty<VolumeMount>();
}

/// <summary>
/// A compose project read from one or more files, later files overriding earlier ones as docker compose merges
/// them (mappings merged key by key, environment by variable, ports and volumes added, command, entrypoint and
/// healthcheck tests replaced), with ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} and $$ interpolated.
/// Services are ordered so that each comes after what it depends on; a cycle or an unknown dependency is StackInvalid.
/// </summary>
public sealed class ComposeProject
{
    private ComposeProject(string name, string directory, IReadOnlyList<ComposeService> services, IReadOnlyDictionary<string, NamedVolume> volumes)
    {
        Name = name;
        Directory = directory;
        Services = services;
        NamedVolumes = volumes;
    }

    /// <summary>The named volumes the file declares (top-level volumes:), by their name in the file.</summary>
    public IReadOnlyDictionary<string, NamedVolume> NamedVolumes { get; }

    public string Name { get; }

    /// <summary>The folder of the first file, against which relative paths resolve.</summary>
    public string Directory { get; }

    /// <summary>In start order: every service after the services it depends on.</summary>
    public IReadOnlyList<ComposeService> Services { get; }

    public ComposeService Service(string name) => Services.FirstOrDefault(s => s.Name == name)
        ?? throw new E2EException(ErrorCatalog.StackNotFound, $"The stack {Name} has no service '{name}' (it has {string.Join(", ", Services.Select(s => s.Name))}).", name);

    public static ComposeProject Load(IReadOnlyList<string> paths, string? projectName, Func<string, string?> variables)
    {
        if (paths.Count == 0)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, "A stack needs at least one compose file.");
        }
        JsonObject? merged = null;
        foreach (var path in paths)
        {
            if (!File.Exists(path))
            {
                throw new E2EException(ErrorCatalog.StackInvalid, $"The compose file '{path}' does not exist.", path);
            }
            E2E.Core.Naming.FileKinds.RequireRegularFile(path, "The compose file");
            IReadOnlyList<JsonObject> documents;
            try
            {
                documents = KubeObjects.ParseYaml(File.ReadAllText(path), path);
            }
            catch (E2EException ex) when (ex.Error == ErrorCatalog.ManifestInvalid)
            {
                throw new E2EException(ErrorCatalog.StackInvalid, ex.Message, path, ex);
            }
            if (documents.Count != 1)
            {
                throw new E2EException(ErrorCatalog.StackInvalid, $"{path}: a compose file is one YAML mapping, not {documents.Count} documents.", path);
            }
            var document = (JsonObject)Interpolate(documents[0], variables, path)!;
            NormalizeEnvironment(document);
            merged = merged is null ? document : Merge(merged, document);
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(paths[0]))!;
        var name = projectName ?? Text(merged!["name"]) ?? Path.GetFileName(directory);
        if (!Regex.IsMatch(name, "^[a-z0-9][a-z0-9_-]*$"))
        {
            name = Regex.Replace(name.ToLowerInvariant(), "[^a-z0-9_-]", string.Empty);
        }
        if (merged!["services"] is not JsonObject services || services.Count == 0)
        {
            throw new E2EException(ErrorCatalog.StackInvalid, $"{paths[0]}: no services.", paths[0]);
        }
        var volumes = DeclaredVolumes(merged["volumes"], name, paths[0]);
        var parsed = services.Select(s => ParseService(s.Key, s.Value as JsonObject ?? throw Invalid(paths[0], s.Key, "is not a mapping"), paths[0]) with
        {
            Volumes = Mounts((s.Value as JsonObject)?["volumes"], directory, volumes, paths[0], s.Key),
        }).ToArray();
        return new ComposeProject(name, directory, Order(parsed, paths[0]), volumes);
    }

    // Top-level volumes: each named <project>_<name> on the engine unless it says name:, external ones as they are.
    private static IReadOnlyDictionary<string, NamedVolume> DeclaredVolumes(JsonNode? node, string project, string source)
    {
        var declared = new Dictionary<string, NamedVolume>(StringComparer.Ordinal);
        if (node is null)
        {
            return declared;
        }
        foreach (var (name, value) in node as JsonObject ?? throw new E2EException(ErrorCatalog.StackInvalid, $"{source}: volumes is not a mapping.", source))
        {
            var spec = value as JsonObject;
            var external = spec?["external"] switch
            {
                JsonValue v when v.TryGetValue<bool>(out var flag) => flag,
                JsonObject => true,
                _ => false,
            };
            declared[name] = new NamedVolume(name, Text(spec?["name"]) ?? (external ? name : $"{project}_{name}"), external);
        }
        return declared;
    }

    // A service's volumes: short "[source:]target[:mode]" or long {type, source, target, read_only}; a source that
    // starts with '.', '/' or '~' is a host path (bind), any other the name of a declared volume.
    private static IReadOnlyList<VolumeMount> Mounts(JsonNode? node, string directory, IReadOnlyDictionary<string, NamedVolume> declared, string source, string service)
    {
        if (node is null)
        {
            return Array.Empty<VolumeMount>();
        }
        var mounts = new List<VolumeMount>();
        foreach (var item in node as JsonArray ?? throw Invalid(source, service, "has volumes that are not a list"))
        {
            string? from;
            string target;
            var readOnly = false;
            string? type = null;
            if (item is JsonObject longForm)
            {
                type = Text(longForm["type"]) ?? VolumeMount.Volume;
                from = Text(longForm["source"]);
                target = Text(longForm["target"]) ?? throw Invalid(source, service, "has a volume without a target");
                readOnly = longForm["read_only"] is JsonValue r && r.TryGetValue<bool>(out var ro) && ro;
            }
            else
            {
                var parts = (Text(item) ?? string.Empty).Split(':');
                (from, target) = parts.Length == 1 ? (null, parts[0]) : (parts[0], parts[1]);
                readOnly = parts.Length == 3 && parts[2].Split(',').Contains("ro");
                if (parts.Length > 3 || target.Length == 0)
                {
                    throw Invalid(source, service, $"has a volume '{Text(item)}' that is not [source:]target[:mode]");
                }
            }
            if (from is null)
            {
                mounts.Add(new VolumeMount(VolumeMount.Volume, null, target, readOnly));
                continue;
            }
            type ??= from[0] is '.' or '/' or '~' ? VolumeMount.Bind : VolumeMount.Volume;
            if (type == VolumeMount.Bind)
            {
                var home = System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile);
                from = from.StartsWith('~') ? home + from[1..] : Path.GetFullPath(from, directory);
            }
            else if (type == VolumeMount.Volume && !declared.ContainsKey(from))
            {
                throw Invalid(source, service, $"uses the named volume '{from}', which the top-level volumes section does not declare");
            }
            mounts.Add(new VolumeMount(type, from, target, readOnly));
        }
        return mounts;
    }

    private static ComposeService ParseService(string name, JsonObject service, string source)
    {
        if (!Regex.IsMatch(name, "^[A-Za-z0-9][A-Za-z0-9_.-]*$"))
        {
            throw Invalid(source, name, "has a name compose does not allow");
        }
        var local = service["x-e2e"] as JsonObject;
        var build = service["build"] switch
        {
            JsonValue v => Text(v),
            JsonObject o => Text(o["context"]) ?? ".",
            _ => null,
        };
        var image = Text(service["image"]);
        var localCommand = Words(local?["command"], source, name);
        if (image is null && build is null && localCommand is null)
        {
            throw Invalid(source, name, "has no image, build or x-e2e command: nothing to run");
        }
        return new ComposeService(
            name,
            image,
            build,
            Words(service["command"], source, name),
            Words(service["entrypoint"], source, name),
            Environment(service["environment"]),
            Ports(service["ports"], source, name),
            Dependencies(service["depends_on"], source, name),
            Healthcheck(service["healthcheck"] as JsonObject, source, name),
            Text(service["container_name"]),
            localCommand,
            Environment(local?["environment"]),
            Text(local?["working_dir"]),
            Healthcheck(local?["healthcheck"] as JsonObject, source, name));
    }

    private static IReadOnlyList<ComposeService> Order(IReadOnlyList<ComposeService> services, string source)
    {
        var byName = services.ToDictionary(s => s.Name, StringComparer.Ordinal);
        foreach (var service in services)
        {
            foreach (var dependency in service.DependsOn)
            {
                if (!byName.ContainsKey(dependency.Service))
                {
                    throw Invalid(source, service.Name, $"depends on '{dependency.Service}', which is not a service of this file");
                }
                if (dependency.Condition == ServiceDependency.Healthy && byName[dependency.Service].Healthcheck is null && byName[dependency.Service].LocalHealthcheck is null)
                {
                    throw Invalid(source, service.Name, $"waits for '{dependency.Service}' to be healthy, which has no healthcheck");
                }
            }
        }
        var ordered = new List<ComposeService>();
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1 visiting, 2 done
        void Visit(ComposeService service, Stack<string> path)
        {
            if (state.TryGetValue(service.Name, out var s))
            {
                if (s == 1)
                {
                    throw new E2EException(ErrorCatalog.StackInvalid, $"{source}: the services depend on each other in a cycle: {string.Join(" -> ", path.Reverse().SkipWhile(p => p != service.Name))} -> {service.Name}.", source);
                }
                return;
            }
            state[service.Name] = 1;
            path.Push(service.Name);
            foreach (var dependency in service.DependsOn)
            {
                Visit(byName[dependency.Service], path);
            }
            path.Pop();
            state[service.Name] = 2;
            ordered.Add(service);
        }
        foreach (var service in services)
        {
            Visit(service, new Stack<string>());
        }
        return ordered;
    }

    private static IReadOnlyList<string>? Words(JsonNode? node, string source, string service) => node switch
    {
        null => null,
        JsonArray array => array.Select(item => Text(item) ?? string.Empty).ToArray(),
        JsonValue value => SplitShellWords(Text(value) ?? string.Empty, source, service),
        _ => throw Invalid(source, service, "has a command that is neither a string nor a list"),
    };

    /// <summary>A command string split as compose does (shlex): spaces separate, quotes group, backslash escapes.</summary>
    internal static IReadOnlyList<string> SplitShellWords(string line, string source, string service)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        var inWord = false;
        char? quote = null;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quote is not null)
            {
                if (c == quote)
                {
                    quote = null;
                }
                else if (c == '\\' && quote == '"' && i + 1 < line.Length && line[i + 1] is '"' or '\\' or '$')
                {
                    current.Append(line[++i]);
                }
                else
                {
                    current.Append(c);
                }
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    words.Add(current.ToString());
                    current.Clear();
                    inWord = false;
                }
                continue;
            }
            inWord = true;
            if (c is '\'' or '"')
            {
                quote = c;
            }
            else if (c == '\\' && i + 1 < line.Length)
            {
                current.Append(line[++i]);
            }
            else
            {
                current.Append(c);
            }
        }
        if (quote is not null)
        {
            throw Invalid(source, service, $"has a command with an unclosed {quote} quote");
        }
        if (inWord)
        {
            words.Add(current.ToString());
        }
        return words;
    }

    private static IReadOnlyDictionary<string, string?> Environment(JsonNode? node)
    {
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal);
        if (node is JsonObject o)
        {
            foreach (var (key, value) in o)
            {
                environment[key] = value is null ? null : Text(value);
            }
        }
        return environment;
    }

    private static IReadOnlyList<PortMapping> Ports(JsonNode? node, string source, string service)
    {
        if (node is null)
        {
            return Array.Empty<PortMapping>();
        }
        var ports = new List<PortMapping>();
        foreach (var item in node as JsonArray ?? throw Invalid(source, service, "has ports that are not a list"))
        {
            if (item is JsonObject longForm)
            {
                ports.Add(new PortMapping(Text(longForm["host_ip"]), Port(Text(longForm["published"]), source, service), Port(Text(longForm["target"]), source, service), Text(longForm["protocol"]) ?? "tcp"));
                continue;
            }
            var text = Text(item) ?? string.Empty;
            var protocol = "tcp";
            var slash = text.IndexOf('/');
            if (slash >= 0)
            {
                protocol = text[(slash + 1)..];
                text = text[..slash];
            }
            var parts = text.Split(':');
            ports.Add(parts.Length switch
            {
                1 => new PortMapping(null, 0, Port(parts[0], source, service), protocol),
                2 => new PortMapping(null, Port(parts[0], source, service), Port(parts[1], source, service), protocol),
                3 => new PortMapping(parts[0], Port(parts[1], source, service), Port(parts[2], source, service), protocol),
                _ => throw Invalid(source, service, $"has a port '{Text(item)}' that is not [ip:]host:container"),
            });
        }
        return ports;
    }

    private static int Port(string? text, string source, string service) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 0 and <= 65535
            ? port
            : throw Invalid(source, service, $"has a port '{text}' that is not a number from 0 to 65535 (ranges are not supported)");

    private static IReadOnlyList<ServiceDependency> Dependencies(JsonNode? node, string source, string service) => node switch
    {
        null => Array.Empty<ServiceDependency>(),
        JsonArray list => list.Select(d => new ServiceDependency(Text(d) ?? string.Empty, ServiceDependency.Started)).ToArray(),
        JsonObject map => map.Select(d =>
        {
            var condition = Text((d.Value as JsonObject)?["condition"]) ?? ServiceDependency.Started;
            return condition is ServiceDependency.Started or ServiceDependency.Healthy or ServiceDependency.CompletedSuccessfully
                ? new ServiceDependency(d.Key, condition)
                : throw Invalid(source, service, $"waits for '{d.Key}' with condition '{condition}' (service_started, service_healthy or service_completed_successfully)");
        }).ToArray(),
        _ => throw Invalid(source, service, "has depends_on that is neither a list nor a mapping"),
    };

    private static ServiceHealthcheck? Healthcheck(JsonObject? node, string source, string service)
    {
        if (node is null)
        {
            return null;
        }
        var test = node["test"] switch
        {
            JsonArray array => array.Select(t => Text(t) ?? string.Empty).ToArray(),
            JsonValue value => new[] { "CMD-SHELL", Text(value) ?? string.Empty },
            null => null,
            _ => throw Invalid(source, service, "has a healthcheck test that is neither a string nor a list"),
        };
        var disabled = node["disable"] is JsonValue d && d.TryGetValue<bool>(out var off) && off || test is ["NONE", ..];
        if (!disabled && (test is null || test.Length < 2 || test[0] is not ("CMD" or "CMD-SHELL")))
        {
            throw Invalid(source, service, "has a healthcheck test that does not start with CMD or CMD-SHELL");
        }
        return new ServiceHealthcheck(test ?? Array.Empty<string>(), Duration(node["interval"], TimeSpan.FromSeconds(30), source, service), Duration(node["timeout"], TimeSpan.FromSeconds(30), source, service),
            node["retries"] is JsonValue r && r.TryGetValue<long>(out var retries) ? (int)Math.Clamp(retries, 1, 10_000) : 3, Duration(node["start_period"], TimeSpan.Zero, source, service), disabled);
    }

    /// <summary>A compose duration: 5s, 1m30s, 1h, 250ms, 10us (or a bare number of seconds).</summary>
    internal static TimeSpan Duration(JsonNode? node, TimeSpan fallback, string source, string service)
    {
        var text = Text(node);
        if (text is null)
        {
            return fallback;
        }
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            return TimeSpan.FromSeconds(seconds);
        }
        var total = TimeSpan.Zero;
        var matches = Regex.Matches(text, "([0-9]+(?:\\.[0-9]+)?)(h|ms|m|s|us)");
        if (matches.Count == 0 || string.Concat(matches.Select(m => m.Value)) != text)
        {
            throw Invalid(source, service, $"has a duration '{text}' that is not like 5s, 1m30s or 250ms");
        }
        foreach (Match match in matches)
        {
            var value = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            total += match.Groups[2].Value switch
            {
                "h" => TimeSpan.FromHours(value),
                "m" => TimeSpan.FromMinutes(value),
                "s" => TimeSpan.FromSeconds(value),
                "ms" => TimeSpan.FromMilliseconds(value),
                _ => TimeSpan.FromMicroseconds(value),
            };
        }
        return total;
    }

    /// <summary>Environment lists ("K=V", "K") become mappings, so that files merge variable by variable.</summary>
    private static void NormalizeEnvironment(JsonObject document)
    {
        if (document["services"] is not JsonObject services)
        {
            return;
        }
        foreach (var (_, service) in services)
        {
            foreach (var holder in new[] { service as JsonObject, (service as JsonObject)?["x-e2e"] as JsonObject })
            {
                if (holder?["environment"] is JsonArray list)
                {
                    var map = new JsonObject();
                    foreach (var item in list)
                    {
                        var text = Text(item) ?? string.Empty;
                        var equals = text.IndexOf('=');
                        map[equals < 0 ? text : text[..equals]] = equals < 0 ? null : JsonValue.Create(text[(equals + 1)..]);
                    }
                    holder["environment"] = map;
                }
            }
        }
    }

    private static readonly HashSet<string> AddedLists = new(StringComparer.Ordinal) { "ports", "volumes", "expose", "dns", "extra_hosts", "env_file" };

    /// <summary>docker compose's merge of an override into a base.</summary>
    private static JsonObject Merge(JsonObject baseObject, JsonObject overlay)
    {
        var result = (JsonObject)baseObject.DeepClone();
        foreach (var (key, value) in overlay)
        {
            if (result[key] is JsonObject existing && value is JsonObject overlayObject)
            {
                result[key] = Merge(existing, overlayObject);
            }
            else if (AddedLists.Contains(key) && result[key] is JsonArray existingList && value is JsonArray overlayList)
            {
                var combined = new JsonArray(existingList.Select(i => i?.DeepClone()).ToArray());
                foreach (var item in overlayList)
                {
                    if (!combined.Any(c => JsonNode.DeepEquals(c, item)))
                    {
                        combined.Add(item?.DeepClone());
                    }
                }
                result[key] = combined;
            }
            else
            {
                result[key] = value?.DeepClone();
            }
        }
        return result;
    }

    private static JsonNode? Interpolate(JsonNode? node, Func<string, string?> variables, string source) => node switch
    {
        JsonObject o => new JsonObject(o.Select(p => KeyValuePair.Create(p.Key, Interpolate(p.Value, variables, source)))),
        JsonArray a => new JsonArray(a.Select(i => Interpolate(i, variables, source)).ToArray()),
        JsonValue v when v.TryGetValue<string>(out var text) => JsonValue.Create(InterpolateText(text, variables, source)),
        _ => node?.DeepClone(),
    };

    /// <summary>Compose interpolation of one value.</summary>
    internal static string InterpolateText(string text, Func<string, string?> variables, string source) =>
        Regex.Replace(text, @"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)", match =>
        {
            if (match.Value == "$$")
            {
                return "$";
            }
            var name = match.Groups[1].Success ? match.Groups[1].Value : match.Groups[4].Value;
            var value = variables(name);
            var op = match.Groups[2].Value;
            var argument = match.Groups[3].Value;
            var unset = op.StartsWith(':') ? string.IsNullOrEmpty(value) : value is null;
            return op.TrimStart(':') switch
            {
                "-" => unset ? InterpolateText(argument, variables, source) : value!,
                "?" => unset ? throw new E2EException(ErrorCatalog.StackInvalid, $"{source}: ${{{name}}} is required: {(argument.Length > 0 ? argument : "it is not set")}.", name) : value!,
                _ => value ?? string.Empty,
            };
        });

    private static string? Text(JsonNode? node) => node switch
    {
        null => null,
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonValue v when v.TryGetValue<bool>(out var b) => b ? "true" : "false",
        JsonValue v => v.ToJsonString(),
        _ => null,
    };

    private static E2EException Invalid(string source, string service, string problem) =>
        new(ErrorCatalog.StackInvalid, $"{source}: service '{service}' {problem}.", service);
}
