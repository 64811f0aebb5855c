keep;
{ keep; }
