"""Pass the run's tables by reference: one pointer per call, not ~150 words.

numba passes a tuple argument by value, flattened into its scalars: each
array is nine machine words (data pointer, shape, strides, ...), so a call
that takes the :class:`State` and the :class:`Machine` (17 arrays) copied
about 150 words, and every event makes a dozen such calls.  Inside ``run``
the tables live for the whole run, so :func:`ref` stores each tuple once in
``run``'s own stack frame and the engine passes a pointer to it; ``s.cpu``
on a reference loads just the fields of that array the code then uses.

Guarantee: a reference is valid only inside the jitted function that made
it and the functions it calls (it points into that function's frame); the
engine makes both in ``run`` and never returns them.  Interpreted
(``NUMBA_DISABLE_JIT=1``) there is nothing to copy and :func:`ref` returns
its argument, whose attributes read the same.
"""

import numba
from numba.core import cgutils, types
from numba.core.typing.templates import AttributeTemplate
from numba.extending import (
    intrinsic, infer_getattr, lower_getattr_generic, models, register_model,
)

__all__ = ["ref"]


class TupleRef(types.Type):
    """numba type: a pointer to a named tuple of arrays in a caller's frame."""

    def __init__(self, tup):
        self.tup = tup
        super().__init__(name=f"TupleRef({tup})")


@register_model(TupleRef)
class _TupleRefModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        pointee = dmm.lookup(fe_type.tup).get_data_type()
        super().__init__(dmm, fe_type, pointee.as_pointer())


@infer_getattr
class _TupleRefAttributes(AttributeTemplate):
    key = TupleRef

    def generic_resolve(self, typ, attr):
        if attr in typ.tup.fields:
            return typ.tup.types[typ.tup.fields.index(attr)]
        return None


@lower_getattr_generic(TupleRef)
def _tuple_ref_getattr(context, builder, typ, val, attr):
    idx = typ.tup.fields.index(attr)
    field = cgutils.gep_inbounds(builder, val, 0, idx)
    model = context.data_model_manager[typ.tup.types[idx]]
    return model.load_from_data_pointer(builder, field)


@intrinsic
def _ref_intrinsic(typingctx, tup):
    if not isinstance(tup, types.NamedTuple):
        return None
    sig = TupleRef(tup)(tup)

    def codegen(context, builder, signature, args):
        model = context.data_model_manager[tup]
        # alloca_once puts the slot in the entry block of the calling
        # function (intrinsics are inlined), so it lives as long as that call.
        slot = cgutils.alloca_once(builder, model.get_data_type())
        builder.store(model.as_data(builder, args[0]), slot)
        return slot

    return sig, codegen


if numba.config.DISABLE_JIT:
    def ref(tup):
        return tup
else:
    ref = _ref_intrinsic
