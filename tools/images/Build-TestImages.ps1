#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, offline, the Docker images the suites and tests use, each cached by the content it is made of.
.DESCRIPTION
    No registry is reachable from these machines, so every image is made here:
      e2e-debian:bookworm     debootstrap --variant=minbase bookworm, imported (apt work happens on the host only)
      e2e-busybox:test        busybox-static and its applet links: a small image for stack and stop tests
      plumise-petals:test     the module's node program on the .NET runtime copied from the SDK (the tag
                              upstream's run_e2e.sh builds); 'probe URL' is its healthcheck
      e2e-mock-oracle:test    the same program as the mock Oracle, listening on every address, port 3100
    Each image carries the label e2e.dev/content, a digest of what it is made of (the debootstrap arguments, the
    busybox binary, the published program and runtime, the base image's digest). An image whose label matches
    is kept as it is; -Force rebuilds. The debootstrap tree is kept as a tarball in -CacheDirectory, so a new
    engine imports it in seconds. Needs docker (the CLI), and for the base image debootstrap, as root.
.EXAMPLE
    $env:DOCKER_HOST = tools/docker/dockerd.sh start; ./tools/pwsh tools/images/Build-TestImages.ps1
#>
[CmdletBinding()]
param(
    [ValidateSet('e2e-debian', 'e2e-busybox', 'plumise-petals', 'e2e-mock-oracle')]
    [string[]] $Image = @('e2e-debian', 'e2e-busybox', 'plumise-petals', 'e2e-mock-oracle'),

    [string] $CacheDirectory = $(if ($env:E2E_IMAGE_CACHE) { $env:E2E_IMAGE_CACHE } else { '/var/cache/e2e-images' }),

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
$RecipeVersion = '2'

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

# The Debian mirror apt uses on this machine (deb822 or one-line sources), so debootstrap goes where apt goes.
function Get-AptMirror {
    foreach ($file in @('/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list')) {
        if (-not (Test-Path $file)) { continue }
        $text = Get-Content -Raw $file
        $deb822 = [regex]::Match($text, '(?m)^URIs:\s*(\S+)\s*$')
        if ($deb822.Success) { return $deb822.Groups[1].Value }
        $line = [regex]::Match($text, '(?m)^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s')
        if ($line.Success) { return $line.Groups[1].Value }
    }
    throw 'No Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list; debootstrap needs one.'
}

function Build-DebianBase {
    $tag = 'e2e-debian:bookworm'
    $arguments = @('--variant=minbase', 'bookworm')
    $digest = Get-TextDigest "debootstrap $($arguments -join ' ') recipe $RecipeVersion"
    if (Test-Current $tag $digest) { return $digest }
    $tarball = Join-Path $CacheDirectory "debian-bookworm-minbase-$digest.tar"
    if (-not (Test-Path $tarball)) {
        if (-not (Get-Command debootstrap -ErrorAction SilentlyContinue)) { throw 'debootstrap is not installed (apt-get install debootstrap).' }
        $tree = Join-Path ([IO.Path]::GetTempPath()) "e2e-debootstrap-$PID"
        try {
            Write-Host "debootstrap $($arguments -join ' ') (about a minute) ..."
            $log = "$tree.log"
            & debootstrap @arguments $tree (Get-AptMirror) *> $log
            if ($LASTEXITCODE -ne 0) { Get-Content -Tail 20 $log | Write-Host; throw "debootstrap failed with exit code $LASTEXITCODE (log above)." }
            Remove-Item $log
            New-Item -ItemType Directory -Force -Path $CacheDirectory | Out-Null
            # Written under another name first: a run killed mid-write leaves no tarball that looks whole.
            Invoke-Checked 'tar' @('-C', $tree, '-cf', "$tarball.partial", '.')
            Move-Item -Force "$tarball.partial" $tarball
        }
        finally {
            if (Test-Path $tree) { Remove-Item -Recurse -Force $tree }
        }
    }
    Invoke-Checked 'docker' @('import', '--change', "LABEL $ContentLabel=$digest", $tarball, $tag) | Out-Null
    Write-Host "$tag imported ($ContentLabel=$digest)"
    $digest
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
        foreach ($applet in (& $busybox --list)) {
            if ($applet -ne 'busybox') { New-Item -ItemType SymbolicLink -Path (Join-Path $tree 'bin' $applet) -Target 'busybox' | Out-Null }
        }
        & tar -C $tree -c . | & docker import --change "LABEL $ContentLabel=$digest" --change 'ENV PATH=/bin' --change 'CMD ["sh"]' - $tag | Out-Null
        if ($LASTEXITCODE -ne 0) { throw "docker import of $tag failed." }
        Write-Host "$tag imported ($ContentLabel=$digest)"
    }
    finally {
        Remove-Item -Recurse -Force $tree -ErrorAction SilentlyContinue
    }
}

# The Debian tarball with the files of $Rootfs added: one image layer, imported with its configuration. docker import
# takes this in seconds, where a Dockerfile's COPY and each metadata step cost a full copy of the tree each on the vfs
# storage driver (about a minute and a half for the two node images).
function New-ImageTarball([string] $Base, [string] $Rootfs, [string] $Path) {
    Copy-Item -LiteralPath $Base -Destination $Path
    # The engine refuses a layer that names a path twice: the folders the base has already (./usr, ./usr/bin) are left out.
    $present = [Collections.Generic.HashSet[string]]::new([string[]] @(& tar -tf $Base | ForEach-Object { $_.TrimEnd('/') }))
    $entries = @(Get-ChildItem -LiteralPath $Rootfs -Recurse -Force | ForEach-Object { './' + [IO.Path]::GetRelativePath($Rootfs, $_.FullName) } |
        Where-Object { -not $present.Contains($_) } | Sort-Object)
    $list = "$Path.list"
    Set-Content -LiteralPath $list -Value $entries
    Invoke-Checked 'tar' @('--append', '--no-recursion', '-f', $Path, '-C', $Rootfs, '-T', $list)
}

function Import-Image([string] $Tag, [string] $Tarball, [string[]] $Configuration, [string] $Digest) {
    $changes = @($Configuration + "LABEL $ContentLabel=$Digest") | ForEach-Object { '--change'; $_ }
    Invoke-Checked 'docker' (@('import') + $changes + @($Tarball, $Tag)) | Out-Null
    Write-Host "$Tag imported ($ContentLabel=$Digest)"
}

# The module's node program on the .NET runtime, as plumise-petals:test and, configured as the mock Oracle, as
# e2e-mock-oracle:test.
function Build-NodeImages([string] $BaseDigest, [bool] $Node, [bool] $Oracle) {
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
        # The runtime the SDK runs on: the muxer, host/ and the one shared framework the program needs.
        $dotnetRoot = Split-Path (Get-Item (Get-Command dotnet).Source).ResolvedTarget
        $framework = Get-ChildItem (Join-Path $dotnetRoot 'shared' 'Microsoft.NETCore.App') -Directory | Sort-Object { [version] ($_.Name -replace '-.*$', '') } | Select-Object -Last 1
        $runtime = Join-Path $rootfs 'usr' 'share' 'dotnet'
        New-Item -ItemType Directory -Force -Path (Join-Path $runtime 'shared' 'Microsoft.NETCore.App'), (Join-Path $rootfs 'usr' 'bin') | Out-Null
        Copy-Item (Join-Path $dotnetRoot 'dotnet') $runtime
        Copy-Item -Recurse (Join-Path $dotnetRoot 'host') $runtime
        Copy-Item -Recurse $framework.FullName (Join-Path $runtime 'shared' 'Microsoft.NETCore.App')
        New-Item -ItemType SymbolicLink -Path (Join-Path $rootfs 'usr' 'bin' 'dotnet') -Target '/usr/share/dotnet/dotnet' | Out-Null
        $tree = Get-TreeDigest $rootfs
        $nodeDigest = Get-TextDigest "$tree base $BaseDigest recipe $RecipeVersion"
        $oracleDigest = Get-TextDigest "node $nodeDigest oracle recipe $RecipeVersion"
        $needNode = $Node -and -not (Test-Current 'plumise-petals:test' $nodeDigest)
        $needOracle = $Oracle -and -not (Test-Current 'e2e-mock-oracle:test' $oracleDigest)
        if (-not ($needNode -or $needOracle)) { return }
        $tarball = Join-Path $context 'image.tar'
        New-ImageTarball (Join-Path $CacheDirectory "debian-bookworm-minbase-$BaseDigest.tar") $rootfs $tarball
        # No ICU in a minbase Debian; the node formats nothing culture-specific.
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
$baseDigest = $null
if ($Image -contains 'e2e-debian' -or $Image -contains 'plumise-petals' -or $Image -contains 'e2e-mock-oracle') { $baseDigest = Build-DebianBase }
if ($Image -contains 'e2e-busybox') { Build-Busybox }
if ($Image -contains 'plumise-petals' -or $Image -contains 'e2e-mock-oracle') { Build-NodeImages $baseDigest ($Image -contains 'plumise-petals') ($Image -contains 'e2e-mock-oracle') }
# The images these tags named before a rebuild, left untagged: the engine's data root is kept between runs.
& docker image prune --force --filter "label=$ContentLabel" | Out-Null
Write-Host ("test images ready in {0:0.0} s" -f $clock.Elapsed.TotalSeconds)
