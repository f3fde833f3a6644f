# A stand-in for the part of Pester 5 the suites use, so a suite file can run in the hosted engine (Pester
# cannot be installed here). It is not Pester: one scope for everything, no discovery phase, no mocking.
# It runs the top-level BeforeAll, then each Describe's It blocks with BeforeEach and AfterEach around them,
# then AfterAll, and keeps $____Pester.CurrentTest.ErrorRecord as Pester does, so failure hooks see failures.
# Also stands in for the few Utility cmdlets the suites call and the hosted engine lacks.

$script:PesterLite = @{
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
    $script:PesterLite.BeforeAll.Add($ScriptBlock)
}

function AfterAll {
    param([Parameter(Mandatory, Position = 0)] [scriptblock] $ScriptBlock)
    $script:PesterLite.AfterAll.Add($ScriptBlock)
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
        [switch] $Not, [switch] $Be, [switch] $BeTrue, [switch] $BeLike, [switch] $Match, [switch] $Throw,
        [switch] $Exist, [switch] $BeNullOrEmpty,
        [string] $ErrorId, [string] $ExpectedMessage, [string] $Because
    )
    begin { $items = [System.Collections.Generic.List[object]]::new() }
    process { $items.Add($ActualValue) }
    end {
        $actual = if ($items.Count -eq 1) { $items[0] } elseif ($items.Count -eq 0) { $null } else { , $items.ToArray() }
        if ($Throw) {
            $caught = $null
            try { & $actual } catch { $caught = $_ }
            if ($null -eq $caught) { throw 'Expected an exception, but none was thrown.' }
            if ($ErrorId -and -not ($caught.FullyQualifiedErrorId -like $ErrorId)) { throw "Expected error id like '$ErrorId', got '$($caught.FullyQualifiedErrorId)': $caught" }
            if ($ExpectedMessage -and -not ($caught.Exception.Message -like $ExpectedMessage)) { throw "Expected a message like '$ExpectedMessage', got '$($caught.Exception.Message)'" }
            return
        }
        $ok = if ($Be) {
            if ($actual -is [array] -or $ExpectedValue -is [array]) {
                $a = @($actual); $e = @($ExpectedValue)
                ($a.Count -eq $e.Count) -and -not (@(for ($i = 0; $i -lt $a.Count; $i++) { $a[$i] -eq $e[$i] }) -contains $false)
            }
            else { $actual -eq $ExpectedValue }
        }
        elseif ($BeTrue) { $actual -eq $true }
        elseif ($BeLike) { $actual -like $ExpectedValue }
        elseif ($Match) { $actual -match $ExpectedValue }
        elseif ($Exist) { [System.IO.File]::Exists($actual) -or [System.IO.Directory]::Exists($actual) }
        elseif ($BeNullOrEmpty) { $null -eq $actual -or ($actual -is [string] -and $actual.Length -eq 0) -or ($actual -is [array] -and $actual.Count -eq 0) }
        else { throw 'This stand-in Should knows -Be, -BeTrue, -BeLike, -Match, -Throw, -Exist and -BeNullOrEmpty.' }
        if ($Not) { $ok = -not $ok }
        if (-not $ok) { throw "Expected $(if ($Not) { 'not ' })'$ExpectedValue', got '$actual'." }
    }
}

function Invoke-PesterLite {
    param([string[]] $ExcludeTag = @())
    $____Pester = [pscustomobject]@{ CurrentTest = $null }
    foreach ($block in $script:PesterLite.BeforeAll) { . $block }
    $topBeforeEach = @($script:PesterLite.BeforeEach)
    $topAfterEach = @($script:PesterLite.AfterEach)
    try {
        foreach ($describe in $script:PesterLite.Describes) {
            $script:PesterLite.Its = [System.Collections.Generic.List[object]]::new()
            $script:PesterLite.BeforeEach = [System.Collections.Generic.List[scriptblock]]::new()
            $script:PesterLite.AfterEach = [System.Collections.Generic.List[scriptblock]]::new()
            . $describe.Fixture
            $beforeEach = $topBeforeEach + @($script:PesterLite.BeforeEach)
            $afterEach = @($script:PesterLite.AfterEach) + $topAfterEach
            foreach ($it in $script:PesterLite.Its) {
                $tags = @($describe.Tag) + @($it.Tag) | Where-Object { $_ }
                $name = "$($describe.Name) / $($it.Name)"
                if ($it.Skip -or ($tags | Where-Object { $ExcludeTag -contains $_ })) {
                    $script:PesterLite.Results.Add([pscustomobject]@{ Name = $name; Result = 'Skipped'; Message = 'excluded' })
                    continue
                }
                $errors = [System.Collections.Generic.List[object]]::new()
                $____Pester.CurrentTest = [pscustomobject]@{ ExpandedName = $it.Name; Name = $it.Name; ErrorRecord = $errors }
                $result = 'Passed'
                $message = ''
                try {
                    foreach ($block in $beforeEach) { . $block }
                    . $it.Test
                }
                catch {
                    if ("$_".StartsWith('PesterLite:Skipped:')) {
                        $result = 'Skipped'
                        $message = "$_".Substring(19)
                    }
                    else {
                        $result = 'Failed'
                        $message = "$_ ($($_.FullyQualifiedErrorId)) at $($_.InvocationInfo.PositionMessage)"
                        $errors.Add($_)
                    }
                }
                foreach ($block in $afterEach) {
                    try { . $block }
                    catch { $result = 'Failed'; $message += " AfterEach: $_" }
                }
                $script:PesterLite.Results.Add([pscustomobject]@{ Name = $name; Result = $result; Message = $message })
            }
        }
    }
    finally {
        foreach ($block in $script:PesterLite.AfterAll) { . $block }
    }
    $script:PesterLite.Results
}
