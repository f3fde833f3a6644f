#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, offline, the Docker images the suites and tests use, each cached by the content it is made of.
.DESCRIPTION
    No registry is reachable from these machines, so every image is made here, from files on this machine:
      e2e-busybox:test        busybox-static and its applets (hard links): a small image for stack and stop tests
      plumise-petals:test     the module's node program on the .NET runtime copied from the SDK, with only the
                              libraries that runtime links against (no distribution, no shell, as Microsoft's
                              chiseled .NET images); the tag upstream's run_e2e.sh builds; 'probe URL' is its healthcheck
      e2e-mock-oracle:test    the same program as the mock Oracle, listening on every address, port 3100
    Each image carries the label e2e.dev/content, a digest of what it is made of (the busybox binary; the published
    program, runtime and libraries). An image whose label matches is kept as it is; -Force rebuilds. Needs docker
    (the CLI).
.EXAMPLE
    $env:DOCKER_HOST = tools/docker/dockerd.sh start; ./tools/pwsh tools/images/Build-TestImages.ps1
#>
[CmdletBinding()]
param(
    [ValidateSet('e2e-busybox', 'plumise-petals', 'e2e-mock-oracle')]
    [string[]] $Image = @('e2e-busybox', 'plumise-petals', 'e2e-mock-oracle'),

    [switch] $Force,

    # Takes the node program from this configuration's finished 'dotnet build' (build.ps1 passes its own) instead of
    # compiling it again in Release: that compile cost 30 s of CPU in every CI run whose sources had changed.
    [ValidateSet('', 'Debug', 'Release')]
    [string] $BuiltConfiguration = ''
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$root = (Resolve-Path (Join-Path $PSScriptRoot '..' '..')).Path
$ContentLabel = 'e2e.dev/content'
# Raise when what goes into an image changes in a way the digests below do not see.
$RecipeVersion = '3'

function Invoke-Checked([string] $FilePath, [string[]] $ArgumentList) {
    & $FilePath @ArgumentList
    if ($LASTEXITCODE -ne 0) { throw "'$FilePath $($ArgumentList -join ' ')' failed with exit code $LASTEXITCODE." }
}

function Get-TextDigest([string] $Text) {
    [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData([Text.Encoding]::UTF8.GetBytes($Text))).ToLowerInvariant().Substring(0, 24)
}

# Names and bytes of every file under $Path, in a stable order: what a COPY of the folder puts into an image.
function Get-TreeDigest([string] $Path) {
    $sha = [Security.Cryptography.IncrementalHash]::CreateHash([Security.Cryptography.HashAlgorithmName]::SHA256)
    foreach ($file in Get-ChildItem -LiteralPath $Path -Recurse -File -Force | Sort-Object { [IO.Path]::GetRelativePath($Path, $_.FullName) } -CaseSensitive) {
        $sha.AppendData([Text.Encoding]::UTF8.GetBytes([IO.Path]::GetRelativePath($Path, $file.FullName) + "`0"))
        $sha.AppendData([IO.File]::ReadAllBytes($file.FullName))
    }
    [Convert]::ToHexString($sha.GetHashAndReset()).ToLowerInvariant().Substring(0, 24)
}

function Get-ImageContent([string] $Tag) {
    $label = & docker image inspect --format "{{ index .Config.Labels `"$ContentLabel`" }}" $Tag 2>$null
    if ($LASTEXITCODE -eq 0) { $label } else { $null }
}

function Test-Current([string] $Tag, [string] $Digest) {
    if (-not $Force -and (Get-ImageContent $Tag) -eq $Digest) {
        Write-Host "$Tag is current ($ContentLabel=$Digest)"
        return $true
    }
    $false
}

function Build-Busybox {
    $tag = 'e2e-busybox:test'
    $busybox = '/bin/busybox'
    if (-not (Test-Path $busybox)) { throw 'busybox is not installed (apt-get install busybox-static).' }
    $digest = Get-TextDigest "$((Get-FileHash -Algorithm SHA256 $busybox).Hash) recipe $RecipeVersion"
    if (Test-Current $tag $digest) { return }
    $tree = Join-Path ([IO.Path]::GetTempPath()) "e2e-busybox-$PID"
    try {
        New-Item -ItemType Directory -Force -Path (Join-Path $tree 'bin'), (Join-Path $tree 'tmp') | Out-Null
        Copy-Item $busybox (Join-Path $tree 'bin' 'busybox')
        # Hard links, not symbolic ones: the vfs storage driver copies a new container's image file by file but keeps
        # hard links as links, and a link costs no inode. With 400 symbolic links, creating and removing a container
        # took 0.67 s of the engine's CPU, nearly all of it ext4 allocating their inodes.
        foreach ($applet in (& $busybox --list)) {
            if ($applet -ne 'busybox') { New-Item -ItemType HardLink -Path (Join-Path $tree 'bin' $applet) -Target (Join-Path $tree 'bin' 'busybox') | Out-Null }
        }
        & tar -C $tree -c . | & docker import --change "LABEL $ContentLabel=$digest" --change 'ENV PATH=/bin' --change 'CMD ["sh"]' - $tag | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "docker import of $tag failed." }
        Write-Host "$tag imported ($ContentLabel=$digest)"
    }
    finally {
        Remove-Item -Recurse -Force $tree -ErrorAction SilentlyContinue
    }
}

function Import-Image([string] $Tag, [string] $Tarball, [string[]] $Configuration, [string] $Digest) {
    $changes = @($Configuration + "LABEL $ContentLabel=$Digest") | ForEach-Object { '--change'; $_ }
    Invoke-Checked 'docker' (@('import') + $changes + @($Tarball, $Tag)) | Out-Null
    Write-Host "$Tag imported ($ContentLabel=$Digest)"
}

# Copies into $Rootfs, at the paths the dynamic linker found them here, the libraries the ELF files under $Rootfs
# link against (the C and C++ runtimes and the linker itself), other than those under $Rootfs already. Those the
# linker does not find here (the runtime's optional LTTng tracing) the runtime does without here, and so in the image.
function Copy-LinkedLibraries([string] $Rootfs) {
    $elves = @(Get-ChildItem -LiteralPath $Rootfs -Recurse -File | Where-Object { $_.Name -like '*.so' -or $_.Name -like '*.so.*' -or $_.Name -eq 'dotnet' })
    $libraries = @(foreach ($elf in $elves) {
        foreach ($match in [regex]::Matches((& ldd $elf.FullName 2>$null) -join "`n", '(?m)^\s*(?:\S+ => )?(/\S+) \(0x')) { $match.Groups[1].Value }
    }) | Where-Object { -not $_.StartsWith($Rootfs + '/') } | Sort-Object -Unique
    if (-not $libraries) { throw "ldd found no libraries under $Rootfs." }
    foreach ($library in $libraries) {
        $target = Join-Path $Rootfs $library.TrimStart('/')
        $null = New-Item -ItemType Directory -Force -Path (Split-Path $target)
        # The file's bytes under the name the linker asked for (the host's name may be a link to a versioned file).
        [IO.File]::Copy($library, $target, $true)
    }
}

# The module's node program on the .NET runtime, as plumise-petals:test and, configured as the mock Oracle, as
# e2e-mock-oracle:test. The image holds the program, the runtime and the libraries it links against, nothing more:
# on the vfs storage driver every new container copies its image twice, file by file, and creating a file costs the
# engine most of that (ext4's inode allocation). On the earlier Debian-based image (6,800 files, 356 MB) creating
# and removing one container took 5 s of CPU.
function Build-NodeImages([bool] $Node, [bool] $Oracle) {
    $context = Join-Path ([IO.Path]::GetTempPath()) "e2e-node-image-$PID"
    try {
        $rootfs = Join-Path $context 'rootfs'
        $program = Join-Path $rootfs 'opt' 'e2e' 'node'
        $project = Join-Path $root 'src' 'E2E.PetalsNode' 'E2E.PetalsNode.csproj'
        $publishOptions = @('-o', $program, '-nologo', '-v', 'quiet', '-p:DebugType=none', '-p:GenerateDocumentationFile=false')
        if ($BuiltConfiguration) {
            # The build's own output: its assemblies name the clone's source paths, so another clone makes a new digest.
            Invoke-Checked 'dotnet' (@('publish', $project, '-c', $BuiltConfiguration, '--no-build') + $publishOptions)
        }
        else {
            # ContinuousIntegrationBuild maps source paths to /_/, so the same sources give the same bytes in any clone
            # (and the images stay current across clones of one commit); without it every clone's path made a new digest.
            Invoke-Checked 'dotnet' (@('publish', $project, '-c', 'Release', '-p:ContinuousIntegrationBuild=true') + $publishOptions)
        }
        # A portable publish carries the native libraries of every platform (46 of its 71 MB); the container runs on
        # this machine's, and the host looks only in the folders of its own platform's chain.
        $platforms = @("linux-$([Runtime.InteropServices.RuntimeInformation]::OSArchitecture.ToString().ToLowerInvariant())", 'linux', 'unix')
        Get-ChildItem -LiteralPath (Join-Path $program 'runtimes') -Directory -ErrorAction SilentlyContinue | Where-Object Name -notin $platforms | Remove-Item -Recurse -Force
        # The runtime the SDK runs on: the muxer, host/ and the one shared framework the program needs.
        $dotnetRoot = Split-Path (Get-Item (Get-Command dotnet).Source).ResolvedTarget
        $framework = Get-ChildItem (Join-Path $dotnetRoot 'shared' 'Microsoft.NETCore.App') -Directory | Sort-Object { [version] ($_.Name -replace '-.*$', '') } | Select-Object -Last 1
        $runtime = Join-Path $rootfs 'usr' 'share' 'dotnet'
        New-Item -ItemType Directory -Force -Path (Join-Path $runtime 'shared' 'Microsoft.NETCore.App'), (Join-Path $rootfs 'usr' 'bin') | Out-Null
        Copy-Item (Join-Path $dotnetRoot 'dotnet') $runtime
        Copy-Item -Recurse (Join-Path $dotnetRoot 'host') $runtime
        Copy-Item -Recurse $framework.FullName (Join-Path $runtime 'shared' 'Microsoft.NETCore.App')
        New-Item -ItemType SymbolicLink -Path (Join-Path $rootfs 'usr' 'bin' 'dotnet') -Target '/usr/share/dotnet/dotnet' | Out-Null
        Copy-LinkedLibraries $rootfs
        # The runtime keeps its diagnostics socket in /tmp.
        $temp = New-Item -ItemType Directory -Path (Join-Path $rootfs 'tmp')
        $temp.UnixFileMode = [IO.UnixFileMode] [Convert]::ToInt32('1777', 8)
        $tree = Get-TreeDigest $rootfs
        $nodeDigest = Get-TextDigest "$tree recipe $RecipeVersion"
        $oracleDigest = Get-TextDigest "node $nodeDigest oracle recipe $RecipeVersion"
        $needNode = $Node -and -not (Test-Current 'plumise-petals:test' $nodeDigest)
        $needOracle = $Oracle -and -not (Test-Current 'e2e-mock-oracle:test' $oracleDigest)
        if (-not ($needNode -or $needOracle)) { return }
        $tarball = Join-Path $context 'image.tar'
        Invoke-Checked 'tar' @('-C', $rootfs, '-cf', $tarball, '.')
        # No ICU in the image; the node formats nothing culture-specific.
        $common = @('ENV DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 PETALS_HOST=0.0.0.0',
            'ENTRYPOINT ["dotnet", "/opt/e2e/node/E2E.PetalsNode.dll"]')
        if ($needNode) {
            Import-Image 'plumise-petals:test' $tarball ($common + 'EXPOSE 31330 31331') $nodeDigest
        }
        if ($needOracle) {
            Import-Image 'e2e-mock-oracle:test' $tarball ($common + @('ENV E2E_ORACLE_HOST=0.0.0.0 E2E_ORACLE_PORT=3100', 'EXPOSE 3100', 'CMD ["mock-oracle"]',
                'HEALTHCHECK --interval=1s --timeout=5s --retries=30 CMD ["dotnet", "/opt/e2e/node/E2E.PetalsNode.dll", "probe", "http://127.0.0.1:3100/health"]')) $oracleDigest
        }
    }
    finally {
        Remove-Item -Recurse -Force $context -ErrorAction SilentlyContinue
    }
}

if (-not (Get-Command docker -ErrorAction SilentlyContinue)) { throw 'The docker CLI is not on PATH (apt-get install docker.io).' }
& docker version --format '{{.Server.Version}}' *> $null
if ($LASTEXITCODE -ne 0) { throw "No Docker engine answers at $(if ($env:DOCKER_HOST) { $env:DOCKER_HOST } else { 'the default socket' }): start one (tools/docker/dockerd.sh start) and set DOCKER_HOST." }

$clock = [Diagnostics.Stopwatch]::StartNew()
if ($Image -contains 'e2e-busybox') { Build-Busybox }
if ($Image -contains 'plumise-petals' -or $Image -contains 'e2e-mock-oracle') { Build-NodeImages ($Image -contains 'plumise-petals') ($Image -contains 'e2e-mock-oracle') }
# The images these tags named before a rebuild, left untagged: the engine's data root is kept between runs.
& docker image prune --force --filter "label=$ContentLabel" | Out-Null
Write-Host ("test images ready in {0:0.0} s" -f $clock.Elapsed.TotalSeconds)
