using E2E.Core.Errors;
using E2E.Core.Petals;

namespace E2E.Core.Tests.Petals;

public sealed class PetalsModelTests
{
    [Fact]
    public void Blocks_computed_in_any_split_give_bit_identical_states()
    {
        var model = PetalsModel.Default;
        var state = model.Advance(model.Advance(null, 40, 0), 65, 1);
        var whole = model.Forward(state, 0, 24);
        var halves = model.Forward(model.Forward(state, 0, 12), 12, 24);
        var thirds = model.Forward(model.Forward(model.Forward(state, 0, 5), 5, 17), 17, 24);
        Assert.Equal(whole, halves);
        Assert.Equal(whole, thirds);
        // Through the wire encoding too: doubles survive as bits.
        Assert.Equal(whole, model.Decode(model.Encode(whole)));
    }

    [Fact]
    public void A_fresh_instance_generates_the_same_tokens_and_every_block_matters()
    {
        var reference = PetalsModel.Default.Generate("Hello world", 24);
        Assert.Equal(reference, new PetalsModel().Generate("Hello world", 24));
        Assert.True(reference.Distinct().Count() > 5, "the output is not one repeated token");
        Assert.NotEqual(reference, PetalsModel.Default.Generate("Hello worle", 24));

        // Skipping any one block, or swapping two, changes what comes out: a route that lost a block is caught.
        var model = PetalsModel.Default;
        var state = model.Advance(null, 7, 0);
        var full = model.Forward(state, 0, 24);
        for (var skipped = 0; skipped < 24; skipped++)
        {
            var partial = skipped switch
            {
                0 => model.Forward(state, 1, 24),
                23 => model.Forward(state, 0, 23),
                _ => model.Forward(model.Forward(state, 0, skipped), skipped + 1, 24),
            };
            Assert.NotEqual(full, partial);
        }
        var swapped = model.Forward(model.Forward(model.Forward(state, 1, 2), 0, 1), 2, 24);
        Assert.NotEqual(full, swapped);
    }

    [Fact]
    public void Bad_input_has_ids_not_crashes()
    {
        var model = PetalsModel.Default;
        Assert.Equal(ErrorCatalog.InvalidArgument, Assert.Throws<E2EException>(() => model.Tokenize("héllo")).Error);
        Assert.Equal(ErrorCatalog.InvalidArgument, Assert.Throws<E2EException>(() => model.Forward(new double[128], 12, 12)).Error);
        Assert.Equal(ErrorCatalog.InvalidArgument, Assert.Throws<E2EException>(() => model.Forward(new double[128], 0, 25)).Error);
        Assert.Equal(ErrorCatalog.PetalsProtocolError, Assert.Throws<E2EException>(() => model.Decode(new byte[1023])).Error);
        var nan = model.Encode(Enumerable.Repeat(double.NaN, 128).ToArray());
        Assert.Equal(ErrorCatalog.PetalsProtocolError, Assert.Throws<E2EException>(() => model.Decode(nan)).Error);
    }
}
