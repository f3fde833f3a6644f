# A stand-in for the part of Pester 5 the suites use, so a suite file can run in the hosted engine (Pester
# cannot be installed here). It is not Pester: one scope for everything, no discovery phase, no mocking.
# It runs the top-level BeforeAll, then each Describe (its BeforeAll, its It blocks with BeforeEach and
# AfterEach around them, its AfterAll), then the top-level AfterAll, and keeps $____Pester.CurrentTest.ErrorRecord
# as Pester does, so failure hooks see failures. An empty module named Pester makes E2E register its Should
# operators through Add-ShouldOperator. Also stands in for the Utility and Management cmdlets the suites call
# and the hosted engine lacks (Join-Path, Set-Content, Copy-Item, Invoke-WebRequest, ...), for the forms they use.
# Variables are not isolated between Describe blocks as in Pester.

New-Module -Name Pester -ScriptBlock { $null } | Import-Module

$script:PesterLite = @{
    Operators  = @{}
    DescribeBeforeAll = $null
    DescribeAfterAll  = $null
    BeforeAll  = [System.Collections.Generic.List[scriptblock]]::new()
    AfterAll   = [System.Collections.Generic.List[scriptblock]]::new()
    BeforeEach = [System.Collections.Generic.List[scriptblock]]::new()
    AfterEach  = [System.Collections.Generic.List[scriptblock]]::new()
    Describes  = [System.Collections.Generic.List[object]]::new()
    Its        = $null
    Results    = [System.Collections.Generic.List[object]]::new()
}

function BeforeAll {
    param([Parameter(Mandatory, Position = 0)] [scriptblock] $ScriptBlock)
    if ($null -ne $script:PesterLite.DescribeBeforeAll) { $script:PesterLite.DescribeBeforeAll.Add($ScriptBlock) }
    else { $script:PesterLite.BeforeAll.Add($ScriptBlock) }
}

function AfterAll {
    param([Parameter(Mandatory, Position = 0)] [scriptblock] $ScriptBlock)
    if ($null -ne $script:PesterLite.DescribeAfterAll) { $script:PesterLite.DescribeAfterAll.Add($ScriptBlock) }
    else { $script:PesterLite.AfterAll.Add($ScriptBlock) }
}

function Add-ShouldOperator {
    param([string] $Name, [string] $InternalName, [scriptblock] $Test, [string[]] $Alias, [switch] $SupportsArrayInput)
    $script:PesterLite.Operators[$Name] = $Test
}

function Join-Path {
    param([Parameter(Mandatory, Position = 0)] [string] $Path, [Parameter(Position = 1)] [string] $ChildPath, [Parameter(Position = 2, ValueFromRemainingArguments)] [string[]] $AdditionalChildPath)
    [System.IO.Path]::Combine([string[]](@($Path, $ChildPath) + @($AdditionalChildPath | Where-Object { $_ })))
}

function Set-Content {
    param([Parameter(Mandatory)] [string] $Path, [Parameter(Mandatory)] [object[]] $Value, [switch] $NoNewline)
    $text = ($Value | ForEach-Object { "$_" }) -join "`n"
    [System.IO.File]::WriteAllText($Path, $(if ($NoNewline) { $text } else { $text + "`n" }))
}

function Get-Content {
    param([Parameter(Mandatory)] [string] $Path, [switch] $Raw)
    if ($Raw) { [System.IO.File]::ReadAllText($Path) } else { [System.IO.File]::ReadAllLines($Path) }
}

function Get-ChildItem {
    param([Parameter(Position = 0)] [string] $Path)
    [System.IO.DirectoryInfo]::new($Path).GetFileSystemInfos()
}

function New-Item {
    param([string] $ItemType, [Parameter(Mandatory)] [string] $Path, [switch] $Force)
    if ($ItemType -ne 'Directory') { throw 'This stand-in New-Item makes directories only.' }
    [System.IO.Directory]::CreateDirectory($Path)
}

function Test-Path {
    param([Parameter(Position = 0)] [string] $Path, [string] $LiteralPath)
    $target = if ($LiteralPath) { $LiteralPath } else { $Path }
    [System.IO.File]::Exists($target) -or [System.IO.Directory]::Exists($target)
}

function Copy-Item {
    param([Parameter(Mandatory)] [string] $Path, [Parameter(Mandatory)] [string] $Destination, [switch] $Recurse, [switch] $Force)
    function Copy-Tree([System.IO.DirectoryInfo] $From, [string] $To) {
        $null = [System.IO.Directory]::CreateDirectory($To)
        foreach ($file in $From.GetFiles()) { $file.CopyTo([System.IO.Path]::Combine($To, $file.Name), $true) | Out-Null }
        foreach ($dir in $From.GetDirectories()) { Copy-Tree $dir ([System.IO.Path]::Combine($To, $dir.Name)) }
    }
    if ([System.IO.Directory]::Exists($Path)) {
        if (-not $Recurse) { throw 'Copying a directory needs -Recurse.' }
        # As Copy-Item: into an existing destination folder, else as the destination.
        $target = if ([System.IO.Directory]::Exists($Destination)) { [System.IO.Path]::Combine($Destination, [System.IO.Path]::GetFileName($Path.TrimEnd('/'))) } else { $Destination }
        Copy-Tree ([System.IO.DirectoryInfo]::new($Path)) $target
    }
    else {
        $target = if ([System.IO.Directory]::Exists($Destination)) { [System.IO.Path]::Combine($Destination, [System.IO.Path]::GetFileName($Path)) } else { $Destination }
        [System.IO.File]::Copy($Path, $target, $true)
    }
}

function Out-String {
    param([Parameter(ValueFromPipeline)] $InputObject)
    begin { $lines = [System.Collections.Generic.List[string]]::new() }
    process { $lines.Add("$InputObject") }
    end { ($lines -join "`n") + "`n" }
}

function Invoke-WebRequest {
    param([Parameter(Mandatory)] [string] $Uri, [string] $Method = 'Get', [string] $Body, [string] $ContentType, [switch] $SkipHttpErrorCheck)
    $client = [System.Net.Http.HttpClient]::new()
    try {
        $request = [System.Net.Http.HttpRequestMessage]::new([System.Net.Http.HttpMethod]::new($Method.ToUpperInvariant()), $Uri)
        if ($Body) { $request.Content = [System.Net.Http.StringContent]::new($Body, [System.Text.Encoding]::UTF8, $ContentType) }
        $response = $client.SendAsync($request).GetAwaiter().GetResult()
        $content = $response.Content.ReadAsStringAsync().GetAwaiter().GetResult()
        if (-not $SkipHttpErrorCheck -and -not $response.IsSuccessStatusCode) { throw "Response status code does not indicate success: $([int]$response.StatusCode)" }
        [pscustomobject]@{ StatusCode = [int]$response.StatusCode; Content = $content }
    }
    finally { $client.Dispose() }
}

function Invoke-RestMethod {
    param([Parameter(Mandatory)] [string] $Uri)
    (Invoke-WebRequest -Uri $Uri).Content | ConvertFrom-Json
}

function BeforeEach {
    param([Parameter(Mandatory, Position = 0)] [scriptblock] $ScriptBlock)
    $script:PesterLite.BeforeEach.Add($ScriptBlock)
}

function AfterEach {
    param([Parameter(Mandatory, Position = 0)] [scriptblock] $ScriptBlock)
    $script:PesterLite.AfterEach.Add($ScriptBlock)
}

function Describe {
    param([Parameter(Mandatory, Position = 0)] [string] $Name, [Parameter(Position = 1)] [scriptblock] $Fixture, [string[]] $Tag)
    $script:PesterLite.Describes.Add([pscustomobject]@{ Name = $Name; Fixture = $Fixture; Tag = $Tag })
}

function It {
    param([Parameter(Mandatory, Position = 0)] [string] $Name, [Parameter(Position = 1)] [scriptblock] $Test, [string[]] $Tag, [switch] $Skip)
    $script:PesterLite.Its.Add([pscustomobject]@{ Name = $Name; Test = $Test; Tag = $Tag; Skip = $Skip.IsPresent })
}

function Set-ItResult {
    param([switch] $Skipped, [switch] $Inconclusive, [switch] $Pending, [string] $Because)
    throw "PesterLite:Skipped:$Because"
}

function Start-Sleep {
    param([int] $Seconds, [int] $Milliseconds)
    [System.Threading.Thread]::Sleep($Seconds * 1000 + $Milliseconds)
}

function ConvertTo-PesterLiteObject {
    param($Element)
    switch ($Element.ValueKind.ToString()) {
        'Object' {
            $properties = [ordered]@{}
            foreach ($property in $Element.EnumerateObject()) {
                $properties[$property.Name] = ConvertTo-PesterLiteObject $property.Value
            }
            [pscustomobject]$properties
        }
        'Array' { , @(foreach ($item in $Element.EnumerateArray()) { ConvertTo-PesterLiteObject $item }) }
        'String' { $Element.GetString() }
        'Number' { $Element.GetDouble() }
        'True' { $true }
        'False' { $false }
        default { $null }
    }
}

function ConvertFrom-Json {
    param([Parameter(Mandatory, ValueFromPipeline)] [string] $InputObject)
    process {
        ConvertTo-PesterLiteObject ([System.Text.Json.JsonDocument]::Parse($InputObject).RootElement)
    }
}

function Should {
    param(
        [Parameter(ValueFromPipeline)] $ActualValue,
        [Parameter(Position = 0)] $ExpectedValue,
        [switch] $Not, [switch] $Be, [switch] $BeTrue, [switch] $BeFalse, [switch] $BeLike, [switch] $Match, [switch] $Throw,
        [switch] $Exist, [switch] $BeNullOrEmpty, [switch] $BeGreaterThan, [switch] $BeGreaterOrEqual, [switch] $BeLessThan,
        [switch] $BeOfType, [switch] $HaveCount, [switch] $Contain,
        [string] $ErrorId, [string] $ExpectedMessage, [string] $Because,
        [Parameter(ValueFromRemainingArguments)] [object[]] $Rest
    )
    begin { $__pl_items = [System.Collections.Generic.List[object]]::new() }
    process { $__pl_items.Add($ActualValue) }
    end {
        $__pl_actual = if ($__pl_items.Count -eq 1) { $__pl_items[0] } elseif ($__pl_items.Count -eq 0) { $null } else { , $__pl_items.ToArray() }
        if ($Rest -and "$($Rest[0])".StartsWith('-') -and $script:PesterLite.Operators.ContainsKey("$($Rest[0])".Substring(1))) {
            $__pl_operator = $script:PesterLite.Operators["$($Rest[0])".Substring(1)]
            $__pl_arguments = @{}
            for ($__pl_i = 1; $__pl_i -lt $Rest.Count; $__pl_i += 2) { $__pl_arguments["$($Rest[$__pl_i])".TrimStart('-')] = $Rest[$__pl_i + 1] }
            $__pl_outcome = & $__pl_operator -ActualValue $__pl_actual -Negate:$Not @__pl_arguments
            if (-not $__pl_outcome.Succeeded) { throw $__pl_outcome.FailureMessage }
            return
        }
        if ($Rest) { throw "This stand-in Should does not know: $Rest" }
        if ($Throw) {
            $__pl_caught = $null
            try { & $__pl_actual } catch { $__pl_caught = $_ }
            if ($Not) {
                if ($null -ne $__pl_caught) { throw "Expected no exception, got: $__pl_caught" }
                return
            }
            if ($null -eq $__pl_caught) { throw 'Expected an exception, but none was thrown.' }
            if ($ErrorId -and -not ($__pl_caught.FullyQualifiedErrorId -like $ErrorId)) { throw "Expected error id like '$ErrorId', got '$($__pl_caught.FullyQualifiedErrorId)': $__pl_caught" }
            if ($ExpectedMessage -and -not ($__pl_caught.Exception.Message -like $ExpectedMessage)) { throw "Expected a message like '$ExpectedMessage', got '$($__pl_caught.Exception.Message)'" }
            return
        }
        $__pl_ok = if ($Be) {
            if ($__pl_actual -is [array] -or $ExpectedValue -is [array]) {
                $__pl_a = @($__pl_actual); $__pl_e = @($ExpectedValue)
                ($__pl_a.Count -eq $__pl_e.Count) -and -not (@(for ($__pl_i = 0; $__pl_i -lt $__pl_a.Count; $__pl_i++) { $__pl_a[$__pl_i] -eq $__pl_e[$__pl_i] }) -contains $false)
            }
            else { $__pl_actual -eq $ExpectedValue }
        }
        elseif ($BeTrue) { $__pl_actual -eq $true }
        elseif ($BeFalse) { $__pl_actual -eq $false }
        elseif ($BeLike) { $__pl_actual -like $ExpectedValue }
        elseif ($Match) { $__pl_actual -match $ExpectedValue }
        elseif ($Exist) { [System.IO.File]::Exists($__pl_actual) -or [System.IO.Directory]::Exists($__pl_actual) }
        elseif ($BeNullOrEmpty) { $null -eq $__pl_actual -or ($__pl_actual -is [string] -and $__pl_actual.Length -eq 0) -or ($__pl_actual -is [array] -and $__pl_actual.Count -eq 0) }
        elseif ($BeGreaterThan) { $__pl_actual -gt $ExpectedValue }
        elseif ($BeGreaterOrEqual) { $__pl_actual -ge $ExpectedValue }
        elseif ($BeLessThan) { $__pl_actual -lt $ExpectedValue }
        elseif ($BeOfType) {
            # As Pester: 'Should -BeOfType [long]' passes the text "[long]" in argument mode.
            $__pl_type = if ($ExpectedValue -is [type]) { $ExpectedValue } else { ("$ExpectedValue" -replace '^\[(.*)\]$', '$1') -as [type] }
            $__pl_actual -is $__pl_type
        }
        elseif ($HaveCount) { @($__pl_items | Where-Object { $null -ne $_ }).Count -eq $ExpectedValue -or @($__pl_actual).Count -eq $ExpectedValue }
        elseif ($Contain) { @($__pl_actual) -contains $ExpectedValue }
        else { throw 'This stand-in Should does not know that operator.' }
        if ($Not) { $__pl_ok = -not $__pl_ok }
        if (-not $__pl_ok) { throw "Expected $(if ($Not) { 'not ' })'$ExpectedValue', got '$__pl_actual'$(if ($Because) { " because $Because" })." }
    }
}

function Invoke-PesterLite {
    param([string[]] $ExcludeTag = @())
    $____Pester = [pscustomobject]@{ CurrentTest = $null }
    foreach ($__pl_block in $script:PesterLite.BeforeAll) { . $__pl_block }
    $__pl_topBeforeEach = @($script:PesterLite.BeforeEach)
    $__pl_topAfterEach = @($script:PesterLite.AfterEach)
    try {
        foreach ($__pl_describe in $script:PesterLite.Describes) {
            $script:PesterLite.Its = [System.Collections.Generic.List[object]]::new()
            $script:PesterLite.BeforeEach = [System.Collections.Generic.List[scriptblock]]::new()
            $script:PesterLite.AfterEach = [System.Collections.Generic.List[scriptblock]]::new()
            $script:PesterLite.DescribeBeforeAll = [System.Collections.Generic.List[scriptblock]]::new()
            $script:PesterLite.DescribeAfterAll = [System.Collections.Generic.List[scriptblock]]::new()
            . $__pl_describe.Fixture
            $__pl_describeAfterAll = @($script:PesterLite.DescribeAfterAll)
            $__pl_describeFailure = $null
            try { foreach ($__pl_block in $script:PesterLite.DescribeBeforeAll) { . $__pl_block } }
            catch { $__pl_describeFailure = "BeforeAll: $_ at $($_.InvocationInfo.PositionMessage)" }
            $script:PesterLite.DescribeBeforeAll = $null
            $script:PesterLite.DescribeAfterAll = $null
            $__pl_beforeEach = $__pl_topBeforeEach + @($script:PesterLite.BeforeEach)
            $__pl_afterEach = @($script:PesterLite.AfterEach) + $__pl_topAfterEach
            foreach ($__pl_it in $script:PesterLite.Its) {
                $__pl_tags = @($__pl_describe.Tag) + @($__pl_it.Tag) | Where-Object { $_ }
                $__pl_name = "$($__pl_describe.Name) / $($__pl_it.Name)"
                if ($__pl_it.Skip -or ($__pl_tags | Where-Object { $ExcludeTag -contains $_ })) {
                    $script:PesterLite.Results.Add([pscustomobject]@{ Name = $__pl_name; Result = 'Skipped'; Message = 'excluded' })
                    continue
                }
                if ($__pl_describeFailure) {
                    $script:PesterLite.Results.Add([pscustomobject]@{ Name = $__pl_name; Result = 'Failed'; Message = $__pl_describeFailure })
                    continue
                }
                $__pl_errors = [System.Collections.Generic.List[object]]::new()
                $____Pester.CurrentTest = [pscustomobject]@{ ExpandedName = $__pl_it.Name; Name = $__pl_it.Name; ErrorRecord = $__pl_errors }
                $__pl_result = 'Passed'
                $__pl_message = ''
                try {
                    foreach ($__pl_block in $__pl_beforeEach) { . $__pl_block }
                    . $__pl_it.Test
                }
                catch {
                    if ("$_".StartsWith('PesterLite:Skipped:')) {
                        $__pl_result = 'Skipped'
                        $__pl_message = "$_".Substring(19)
                    }
                    else {
                        $__pl_result = 'Failed'
                        $__pl_message = "$_ ($($_.FullyQualifiedErrorId)) at $($_.InvocationInfo.PositionMessage)"
                        $__pl_errors.Add($_)
                    }
                }
                foreach ($__pl_block in $__pl_afterEach) {
                    try { . $__pl_block }
                    catch { $__pl_result = 'Failed'; $__pl_message += " AfterEach: $_" }
                }
                $script:PesterLite.Results.Add([pscustomobject]@{ Name = $__pl_name; Result = $__pl_result; Message = $__pl_message })
            }
            foreach ($__pl_block in $__pl_describeAfterAll) { . $__pl_block }
        }
    }
    finally {
        foreach ($__pl_block in $script:PesterLite.AfterAll) { . $__pl_block }
    }
    $script:PesterLite.Results
}
