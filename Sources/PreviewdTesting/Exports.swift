// The fakes and the contract checker speak JSONValue: whoever imports the test support gets it too.
@_exported import JSONModel
