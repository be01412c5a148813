"""A tenantsync plugin in Python: initials from a display name.

`Initials([displayName])` turns "Ada King Lovelace" into "AKL"; null stays null.

Build (componentize-py from PyPI):

    componentize-py -d ../../wit/0.1.0 -w transform componentize app -o python_initials.wasm

It targets the contract 0.1.0 (`call` by name with a list of values), which the engine keeps
loading beside the current 0.2.0.
"""

from typing import List

from componentize_py_types import Err
from wit_world import WitWorld
from wit_world.imports.types import (
    CallError_InvalidArgument,
    CallError_NotFound,
    FunctionInfo,
    PluginInfo,
    Value,
    Value_Null,
    Value_Text,
)


def initials(name: str) -> str:
    """The first letter of each word, upper-cased."""
    return "".join(word[0].upper() for word in name.split() if word)


class WitWorld(WitWorld):
    def describe(self) -> PluginInfo:
        return PluginInfo(
            name="python-initials",
            version="0.1.0",
            functions=[
                FunctionInfo(
                    name="Initials",
                    params=["name"],
                    optional=0,
                    description="The first letter of each word of a name, upper-cased.",
                )
            ],
        )

    def call(self, function: str, args: List[Value]) -> Value:
        if function != "Initials":
            raise Err(CallError_NotFound(f"this plugin has no function {function}"))
        if len(args) != 1:
            raise Err(CallError_InvalidArgument("Initials takes 1 argument"))
        arg = args[0]
        if isinstance(arg, Value_Null):
            return Value_Null()
        if not isinstance(arg, Value_Text):
            raise Err(CallError_InvalidArgument("Initials: the name must be a string"))
        return Value_Text(initials(arg.value))
